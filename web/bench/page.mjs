// Workload (c) of the dashboard benchmark: the dashboard page of the
// busiest video in headless Chromium, the last 30 days in Asia/Kolkata with
// the previous period and the start node selected (its hotspots, viewing
// curve and heat maps), and the time from navigation until every panel has
// its numbers (every panel has loaded and none is busy any more), over
// fresh page loads.
//
// Runs `pathlens demo` on a fresh data directory with about EVENTS events
// (default 1,000,000; simulated traffic of 30 days), then prints p50 / p99
// ms and the load average. Usage (from web/, after `cargo build -p
// pathlens`): EVENTS=1000000 RUNS=15 node bench/page.mjs

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { binaryPath, freePort, launchBrowser } from '../e2e/support.mjs';

const EVENTS = Number(process.env.EVENTS || 1_000_000);
const RUNS = Number(process.env.RUNS || 15);
const TZ = 'Asia/Kolkata';
// The demo simulates three videos; about 28 events per session.
const SESSIONS_PER_DAY = EVENTS / 30 / 3 / 28;

async function loadAverage() {
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
}

// CPU time (user + system, ms) of the processes whose command line
// matches `wanted`: the server and Chromium share this machine's cores, so
// a page's time is bounded below by their CPU time over the core count.
async function cpuMs(wanted) {
  let ticks = 0;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const command = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      if (!wanted(pid, command)) continue;
      const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Gone meanwhile.
    }
  }
  return ticks * 10;
}

function percentile(sorted, p) {
  return sorted[Math.round((sorted.length - 1) * p)];
}

const dataDir = await mkdtemp(join(tmpdir(), 'pathlens-page-bench-'));
const port = await freePort();
const child = spawn(binaryPath(), ['demo', '--data-dir', dataDir, '--days', '30', '--sessions-per-day', String(SESSIONS_PER_DAY), '--listen', `127.0.0.1:${port}`], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
});
let output = '';
const started = Date.now();
const { base, token } = await new Promise((resolve, reject) => {
  child.once('exit', (code) => reject(new Error(`pathlens demo exited with ${code}:\n${output}`)));
  child.stdout.on('data', (chunk) => {
    output += chunk;
    const url = /dashboard:\s+(\S+)/.exec(output);
    const key = /admin token:\s+(\S+)/.exec(output);
    if (url && key) resolve({ base: url[1].replace(/\/$/, ''), token: key[1] });
  });
});
const events = /demo data: \d+ videos, (\d+) events/.exec(output)?.[1] ?? '?';
console.error(`demo ready with ${events} events in ${((Date.now() - started) / 1000).toFixed(1)} s`);

let browser;
try {
  const headers = { Authorization: `Bearer ${token}` };
  const list = await (await fetch(`${base}/api/v1/videos?tz=${encodeURIComponent(TZ)}`, { headers })).json();
  const video = list.videos.reduce((a, b) => ((b.plays_30d ?? 0) > (a.plays_30d ?? 0) ? b : a));
  browser = await launchBrowser();
  const context = await browser.newContext({ locale: 'en-US', timezoneId: TZ, viewport: { width: 1280, height: 900 } });
  // Which panels have started loading: the first load fills the top
  // metrics first and starts the others when they arrive, so "no panel
  // busy" alone could be seen in between.
  await context.addInitScript(() => {
    window.pathlensBusySeen = new Set();
    new MutationObserver((changes) => {
      for (const change of changes) {
        if (change.target.getAttribute('aria-busy') === 'true') window.pathlensBusySeen.add(change.target.id);
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['aria-busy'] });
  });
  const signIn = await context.newPage();
  await signIn.goto(`${base}/`);
  await signIn.evaluate((value) => localStorage.setItem('pathlens.token', value), token);
  await signIn.close();
  // With the start node selected: its hotspots, viewing curve and heat maps.
  const shown = await (await fetch(`${base}/api/v1/videos/${encodeURIComponent(video.id)}`, { headers })).json();
  const url = `${base}/videos/${encodeURIComponent(video.id)}?range=last_30_days&tz=${encodeURIComponent(TZ)}&compare=previous_period&interval=day&node=${encodeURIComponent(shown.start_node)}`;
  const load = async () => {
    const page = await context.newPage();
    await page.goto(url);
    // ms since navigation started, when the last panel stopped being busy.
    const filled = await page.waitForFunction(
      () => {
        const panels = [...document.querySelectorAll('.panel[id]:not([hidden])')];
        if (panels.length === 0 || document.querySelectorAll('.panel[aria-busy="true"]').length > 0) return false;
        if (!panels.every((panel) => window.pathlensBusySeen.has(panel.id))) return false;
        return performance.now();
      },
      null,
      { polling: 'raf', timeout: 120_000 },
    );
    const ms = await filled.jsonValue();
    const failed = await page.$$eval('.panel .error, .panel [role="alert"]', (nodes) => nodes.length);
    if (failed > 0) throw new Error(`${failed} panel(s) show an error at ${url}`);
    const panels = await page.$$eval('.panel[id]:not([hidden])', (nodes) => nodes.length);
    await page.close();
    return { ms, panels };
  };
  const first = await load();
  const times = [];
  const server = (pid) => pid === String(child.pid);
  // Its browser, renderer, GPU and utility processes (/usr/bin/chromium
  // starts /usr/lib/chromium/chromium).
  const chromium = (_, command) => /chrom/i.test(command.split('\0')[0]);
  const before = [await cpuMs(server), await cpuMs(chromium)];
  for (let i = 0; i < RUNS; i += 1) times.push((await load()).ms);
  const cpu = [(await cpuMs(server)) - before[0], (await cpuMs(chromium)) - before[1]].map((ms) => (ms / RUNS).toFixed(0));
  times.sort((a, b) => a - b);
  console.log(`dashboard page of "${video.id}" (${events} events stored, ${video.plays_30d} plays in the last 30 days), ${first.panels} panels, ${RUNS} fresh loads in headless Chromium; load average ${await loadAverage()}`);
  console.log('');
  console.log('| workload | p50 ms | p99 ms |');
  console.log('|---|---:|---:|');
  console.log(`| (c) every panel filled after navigation | ${percentile(times, 0.5).toFixed(0)} | ${percentile(times, 0.99).toFixed(0)} |`);
  console.log('');
  console.log(`CPU time per load (the two share ${(await readFile('/proc/cpuinfo', 'utf8')).match(/^processor/gm).length} cores): server ${cpu[0]} ms, Chromium ${cpu[1]} ms`);
  console.log(`load average after: ${await loadAverage()}`);
} finally {
  await browser?.close();
  child.kill('SIGTERM');
  await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve()));
  await rm(dataDir, { recursive: true, force: true });
}
