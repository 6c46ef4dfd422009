// Shared by the browser tests: a pathlens demo server on a free port, the
// API as the tests read it, headless Chromium, and the dashboard's number
// formats restated (en-US) so that assertions compare what a person sees.

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = join(here, 'artifacts');

export function binaryPath() {
  if (process.env.PATHLENS_BIN) return process.env.PATHLENS_BIN;
  const target = process.env.CARGO_TARGET_DIR || '/var/cache/pathlens-target';
  return join(target, 'debug', 'pathlens');
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Runs `pathlens demo` on a fresh data directory and waits for its URL
 * and admin token. */
export async function startDemo() {
  const dataDir = await mkdtemp(join(tmpdir(), 'pathlens-e2e-'));
  const port = await freePort();
  const child = spawn(binaryPath(), ['demo', '--data-dir', dataDir, '--days', '40', '--sessions-per-day', '30', '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let output = '';
  let errors = '';
  child.stderr.on('data', (chunk) => {
    errors = (errors + chunk).slice(-4000);
  });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pathlens demo printed no dashboard URL within 120 s:\n${output}\n${errors}`)), 120_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${binaryPath()}: ${error.message} (build it with cargo build -p pathlens, or set PATHLENS_BIN)`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pathlens demo exited with ${code}:\n${output}\n${errors}`));
    });
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const url = /dashboard:\s+(\S+)/.exec(output);
      const token = /admin token:\s+(\S+)/.exec(output);
      const signIn = /sign in:\s+(\S+)/.exec(output);
      if (url && token) {
        clearTimeout(timer);
        resolve({ base: url[1].replace(/\/$/, ''), token: token[1], signIn: signIn?.[1] });
      }
    });
  });
  child.removeAllListeners('exit');
  return {
    ...ready,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The API, authenticated, as JSON or as text. */
export function apiClient(base, token) {
  const call = async (path, params = {}) => {
    const query = new URLSearchParams(params).toString();
    const response = await fetch(`${base}${path}${query ? `?${query}` : ''}`, { headers: { Authorization: `Bearer ${token}` } });
    if (!response.ok) throw new Error(`${path}?${query}: ${response.status} ${await response.text()}`);
    return response;
  };
  return {
    json: async (path, params) => (await call(path, params)).json(),
    text: async (path, params) => (await call(path, params)).text(),
    report: async (video, kind, params) => (await call(`/api/v1/videos/${video}/reports/${kind}`, params)).json(),
    csv: async (video, kind, params) => (await call(`/api/v1/videos/${video}/reports/${kind}`, { ...params, format: 'csv' })).text(),
  };
}

/** Collects the page's script errors and console errors into `problems`;
 * the console's reports of 4xx answers are expected (tests ask for bad
 * things on purpose) and left out. */
export function watchProblems(page, problems) {
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 4\d\d/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
}

export async function launchBrowser() {
  await mkdir(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// The dashboard's formats, for an en-US reader.
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const small = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
const large = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 1 });
const signed = new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 1, signDisplay: 'exceptZero' });

export function formatValue(value, type) {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value !== 'number') return String(value);
  if (type === 'integer') return integer.format(value);
  if (type === 'number') return (Math.abs(value) < 10 ? small : large).format(value);
  if (type === 'ratio') return percent.format(value);
  return String(value);
}

export function formatChange(change, previous) {
  if (previous === 0) return change === 0 || change === undefined ? '—' : 'new';
  if (typeof change === 'number') return signed.format(change);
  return '—';
}

export function columnType(report, key) {
  return report.columns.find((c) => c.key === key)?.type ?? 'number';
}

/** Waits until `selector`'s text is `expected`; on a timeout, says what it was. */
export async function waitForText(page, selector, expected, timeout = 15_000) {
  try {
    await page.waitForFunction(([s, t]) => document.querySelector(s)?.textContent?.trim() === t, [selector, expected], { timeout });
  } catch (error) {
    const actual = await page.evaluate((s) => document.querySelector(s)?.textContent?.trim() ?? '(missing)', selector);
    throw new Error(`${selector}: expected ${JSON.stringify(expected)}, saw ${JSON.stringify(actual)}`);
  }
}

/** Waits until the page's URL has these query parameters. */
export async function waitForQuery(page, params, timeout = 10_000) {
  await page.waitForFunction(
    (expected) => {
      const q = new URLSearchParams(location.search);
      return Object.entries(expected).every(([k, v]) => (v === null ? !q.has(k) : q.get(k) === v));
    },
    params,
    { timeout },
  );
}

/** Waits until no panel is loading. */
export async function settled(page, timeout = 20_000) {
  await page.waitForFunction(() => document.querySelectorAll('.panel[aria-busy="true"]').length === 0 && document.querySelector('.panel') !== null, null, { timeout });
}
