// The JS tracker (tracker/pathlens.js). First in a stub window: what it
// sends for each call. Then in a real browser: headless Chromium loads the
// example branching player (examples/branching-player), served from another
// origin than pathlens, plays two nodes with a hotspot click, and the reports
// of `pathlens serve` must show the impression, the play, both node plays and
// the click.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const EXAMPLE = join(here, '..', '..', 'examples', 'branching-player');
const TRACKER = join(here, '..', '..', 'tracker', 'pathlens.js');
const VIDEO = 'branching-demo';
const BIN = process.env.PATHLENS_BIN || join(process.env.CARGO_TARGET_DIR || '/var/cache/pathlens-target', 'debug', 'pathlens');

const run = promisify(execFile);
let dataDir;
let profileDir;
let server;
let pages;
let context;
let base;
let admin;
let write;

async function pathlens(...args) {
  const { stdout } = await run(BIN, [...args, '--data-dir', dataDir], { env: { ...process.env, RUST_LOG: 'warn' } });
  return stdout;
}

function token(output) {
  const match = /token \(shown once\): (\S+)/.exec(output);
  assert.ok(match, `no token in ${output}`);
  return match[1];
}

/** A static file server for the example page, on its own port (another origin). */
function servePages() {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json' };
  const http = createServer(async (request, response) => {
    const path = normalize(new URL(request.url, 'http://x').pathname).replace(/^\/+/, '') || 'index.html';
    try {
      const body = await readFile(join(EXAMPLE, path));
      response.writeHead(200, { 'content-type': types[extname(path)] || 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404);
      response.end();
    }
  });
  return new Promise((resolve) => http.listen(0, '127.0.0.1', () => resolve(http)));
}

async function freePort() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function waitForHealth(url, child, deadline = Date.now() + 30_000) {
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`pathlens serve exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('pathlens serve did not answer /healthz within 30 s');
}

async function report(kind, params = {}) {
  const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  const query = new URLSearchParams({ from: day(-1), to: day(0), ...params });
  const response = await fetch(`${base}/api/v1/videos/${VIDEO}/reports/${kind}?${query}`, { headers: { Authorization: `Bearer ${admin}` } });
  assert.equal(response.status, 200, await response.clone().text());
  return response.json();
}

/** Polls until `check` passes (the tracker sends batches every 2 s). */
async function eventually(check, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** The tracker loaded into a stub window that records what it sends. */
async function stubbedTracker(meAnswer) {
  const sent = [];
  const beacons = [];
  const listeners = {};
  const window = {
    crypto: globalThis.crypto,
    navigator: { sendBeacon: (url, blob) => { beacons.push({ url, blob }); return true; } },
    addEventListener: (type, listener) => { listeners[type] = listener; },
    fetch: async (url, options = {}) => {
      sent.push({ url, options });
      if (url.includes('/api/v1/me')) return { status: 200, json: async () => meAnswer };
      return { status: 200, json: async () => ({}) };
    },
  };
  new Function('window', await readFile(TRACKER, 'utf8'))(window);
  const events = () => sent.filter((r) => r.url.includes('/api/v1/events')).flatMap((r) => r.options.body.trim().split('\n').map((line) => JSON.parse(line)));
  return { Pathlens: window.Pathlens, sent, beacons, listeners, events };
}

test('the tracker numbers, batches and describes each call', async () => {
  const { Pathlens, sent, beacons, listeners, events } = await stubbedTracker();
  const session = Pathlens.init({ endpoint: 'https://pl.example/', key: 'plw_k', videoId: 'tour', userId: 42, partnerId: 7 });
  Pathlens.impression();
  Pathlens.play();
  Pathlens.nodeEnter('a', 'ea');
  Pathlens.progress(5.25, 5);
  Pathlens.hotspotClick('go-b', { toNodeId: 'b', position: 6 });
  Pathlens.nodeEnter('b', 'eb');
  Pathlens.nodeEnter('c');
  Pathlens.play();
  Pathlens.hotspotClick('shop', { url: 'https://shop.example', position: 1 });
  assert.equal(sent.length, 0, 'queued until a flush');
  Pathlens.end();
  assert.equal(sent.length, 1);
  assert.equal(sent[0].url, 'https://pl.example/api/v1/events?key=plw_k');
  assert.equal(sent[0].options.keepalive, true);
  assert.match(sent[0].options.headers['Content-Type'], /^text\/plain/);
  const got = events().map((e) => [e.event_index, e.kind, e.node_id ?? null, e.from_node_id ?? null, e.to_node_id ?? null, e.hotspot_id ?? null]);
  assert.deepEqual(got, [
    [1, 'impression', null, null, null, null],
    [2, 'play', null, null, null, null],
    [3, 'node_play', 'a', null, null, null],
    [4, 'view', 'a', null, null, null],
    [5, 'node_switch', 'a', 'a', 'b', 'go-b'],
    [6, 'node_play', 'b', null, null, null],
    [7, 'node_switch', 'b', 'b', 'c', null],
    [8, 'node_play', 'c', null, null, null],
    [9, 'resume', 'c', null, null, null],
    [10, 'hotspot_click', 'c', null, null, 'shop'],
    [11, 'quartile', 'c', null, null, null],
  ]);
  const all = events();
  assert.ok(all.every((e) => e.partner_id === 7 && e.video_id === 'tour' && e.session_id === session && e.user_id === '42'));
  assert.deepEqual([all[3].position, all[3].play_time_sum, all[3].entry_id], [5.25, 5, 'ea']);
  assert.equal(all[9].target_url, 'https://shop.example');
  assert.equal(all[10].quartile, 100);
  // Leaving the page sends what is queued with sendBeacon.
  Pathlens.progress(2, 2);
  listeners.pagehide();
  assert.equal(beacons.length, 1);
  assert.equal(beacons[0].url, 'https://pl.example/api/v1/events?key=plw_k');
  assert.equal(JSON.parse((await beacons[0].blob.text()).trim()).event_index, 12);
});

test('without a partner id the tracker asks the server once', async () => {
  const { Pathlens, sent, events } = await stubbedTracker({ partner_id: 3 });
  Pathlens.init({ endpoint: 'https://pl.example', key: 'plw_k', videoId: 'tour' });
  Pathlens.impression();
  Pathlens.flush();
  await eventually(async () => assert.equal(events().length, 1));
  assert.equal(sent[0].url, 'https://pl.example/api/v1/me?key=plw_k');
  assert.equal(events()[0].partner_id, 3);
});

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'pathlens-tracker-'));
  profileDir = await mkdtemp(join(tmpdir(), 'pathlens-chromium-'));
  write = token(await pathlens('keys', 'create', '--kind', 'write'));
  admin = token(await pathlens('keys', 'create', '--kind', 'admin'));
  await pathlens('videos', 'add', join(EXAMPLE, 'graph.json'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(BIN, ['serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`], { stdio: 'ignore', env: { ...process.env, RUST_LOG: 'warn' } });
  await waitForHealth(base, server);
  pages = await servePages();
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await context?.close();
  await new Promise((resolve) => (pages ? pages.close(resolve) : resolve()));
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  await rm(dataDir, { recursive: true, force: true });
  await rm(profileDir, { recursive: true, force: true });
});

test('the example player reports impression, play, two node plays and a click', { timeout: 120_000 }, async () => {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
  const pageOrigin = `http://127.0.0.1:${pages.address().port}`;
  // No partner id in the URL: the tracker asks /api/v1/me for it.
  await page.goto(`${pageOrigin}/index.html?endpoint=${encodeURIComponent(base)}&key=${encodeURIComponent(write)}&user=e2e-viewer`);
  await page.waitForFunction(() => ['ready'].includes(document.body.dataset.status) || document.body.dataset.status?.startsWith('error'), null, { timeout: 30_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.status), 'ready');

  await page.click('#play');
  await page.waitForFunction(() => document.body.dataset.status === 'playing intro');
  // The choice appears 0.5 s into the intro; the video really plays.
  const choice = page.locator('button[data-hotspot="go-forest"]');
  await choice.waitFor({ state: 'visible', timeout: 10_000 });
  await page.waitForFunction(() => document.getElementById('video').currentTime > 1);
  await choice.click();
  await page.waitForFunction(() => document.body.dataset.status === 'playing forest');
  await page.waitForFunction(() => document.body.dataset.status === 'finished', null, { timeout: 15_000 });

  await eventually(async () => {
    const totals = (await report('totals')).rows[0];
    assert.equal(totals.impressions, 1, 'impressions');
    assert.equal(totals.plays, 1, 'plays');
    assert.equal(totals.path_completion_rate, 1, 'forest is an end node');
    assert.ok(totals.minutes_viewed > 0, 'minutes viewed');
    const nodes = Object.fromEntries((await report('nodes')).rows.map((row) => [row.node_id, row]));
    assert.equal(nodes.intro.plays, 1, 'intro plays');
    assert.equal(nodes.forest.plays, 1, 'forest plays');
    assert.equal(nodes.river.plays, 0, 'river plays');
    const intro = (await report('node', { node: 'intro' })).rows;
    assert.equal(intro.find((row) => row.hotspot_id === 'go-forest').clicks, 1, 'go-forest clicks');
    assert.equal(intro.find((row) => row.hotspot_id === 'go-river').clicks, 0, 'go-river clicks');
    const viewers = (await report('viewers')).rows;
    assert.deepEqual(viewers.map((row) => row.user_id), ['e2e-viewer']);
  });
  assert.deepEqual(problems, []);
  await page.close();
});
