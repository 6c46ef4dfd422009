// The dashboard in headless Chromium against `pathlens demo` data: what a
// person sees must equal what the API answers.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { unzipSync, strFromU8 } from 'fflate';

import { apiClient, ARTIFACTS, columnType, formatChange, formatValue, launchBrowser, settled, startDemo, waitForQuery, waitForText, watchProblems } from './support.mjs';

const TZ = 'Europe/Paris';
const VIDEO = 'onboarding';
const METRICS = ['impressions', 'plays', 'unique_viewers', 'minutes_viewed', 'avg_view_time', 'path_completion_rate'];

let demo;
let api;
let browser;
let context;
let page;
const problems = [];

async function shot(name, options = {}) {
  // From the top, so the sticky top bar is drawn where it belongs.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true, ...options });
}

/** A screenshot of one panel, without the sticky top bar over it. */
async function panelShot(selector, name) {
  await page.locator(selector).screenshot({ path: join(ARTIFACTS, name), style: '.topbar { position: static !important; }' });
}

/** The metric cards' values equal the API's totals (and previous values). */
async function expectMetrics(params) {
  const totals = await api.report(VIDEO, 'totals', params);
  const row = totals.rows[0];
  for (const key of METRICS) {
    const type = columnType(totals, key);
    await waitForText(page, `.metric[data-metric="${key}"] .metric-value`, formatValue(row[key], type));
    if (totals.comparison) {
      await waitForText(page, `.metric[data-metric="${key}"] .metric-previous`, `vs ${formatValue(row[`${key}_previous`], type)}`);
      await waitForText(page, `.metric[data-metric="${key}"] .change`, `${row[`${key}_change`] > 0.0005 ? '▲ ' : row[`${key}_change`] < -0.0005 ? '▼ ' : ''}${formatChange(row[`${key}_change`], row[`${key}_previous`])}`);
    }
  }
  return totals;
}

/** Node ids of the overview table, top to bottom. */
function nodeOrder() {
  return page.$$eval('#nodes tbody tr', (rows) => rows.map((r) => r.dataset.row));
}

async function download(click) {
  const [file] = await Promise.all([page.waitForEvent('download'), click()]);
  const path = await file.path();
  return { name: file.suggestedFilename(), bytes: await readFile(path) };
}

describe('dashboard', () => {
  before(async () => {
    demo = await startDemo();
    api = apiClient(demo.base, demo.token);
    browser = await launchBrowser();
    context = await browser.newContext({ locale: 'en-US', timezoneId: TZ, viewport: { width: 1280, height: 900 }, colorScheme: 'light', acceptDownloads: true });
    page = await context.newPage();
    watchProblems(page, problems);
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
  });

  test('sign-in rejects a wrong token with the API message, then lists the videos', async () => {
    await page.goto(`${demo.base}/`);
    await page.waitForSelector('#token');
    await shot('signin.png');
    await page.fill('#token', 'pla_not-a-real-token');
    await page.click('button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#signin-error')?.textContent?.length > 0);
    assert.match(await page.textContent('#signin-error'), /token|key/i);
    await page.fill('#token', demo.token);
    await page.click('button[type=submit]');
    await page.waitForSelector('#videos-table');
    // The list counts the browser zone's last 30 local days, as the video's
    // own dashboard does with the same preset: one number for one question.
    const { videos } = await api.json('/api/v1/videos', { tz: TZ });
    for (const video of videos) {
      const plays = await page.textContent(`tr[data-video="${video.id}"] [data-col=plays_30d]`);
      assert.equal(plays, formatValue(video.plays_30d, 'integer'), video.id);
      const totals = await api.report(video.id, 'totals', { range: 'last_30_days', tz: TZ });
      assert.equal(video.plays_30d, totals.rows[0].plays, video.id);
    }
    await shot('videos.png');
    await page.fill('#video-search', 'escape');
    await page.waitForFunction(() => document.querySelectorAll('#videos-table tbody tr').length === 1);
    assert.equal(await page.getAttribute('#videos-table tbody tr', 'data-video'), 'escape-room');
    await page.fill('#video-search', 'no such video');
    await page.waitForSelector('.empty-title');
    assert.match(await page.textContent('.empty-title'), /No video matches/);
  });

  test('the one-click sign-in link the demo prints signs in and leaves no token in the address', async () => {
    assert.ok(demo.signIn, 'the demo prints a sign-in link');
    assert.equal(demo.signIn, `${demo.base}/#token=${demo.token}`);
    const fresh = await browser.newContext({ locale: 'en-US', timezoneId: TZ, viewport: { width: 1280, height: 900 } });
    const tab = await fresh.newPage();
    await tab.goto(demo.signIn);
    await tab.waitForSelector('#videos-table');
    assert.equal(new URL(tab.url()).hash, '');
    assert.ok(!tab.url().includes(demo.token));
    await fresh.close();
  });

  test('the video page paints fast and its top metrics equal the API totals', async () => {
    const url = `${demo.base}/videos/${VIDEO}`;
    await page.goto(url);
    await waitForQuery(page, { tz: TZ, range: 'last_30_days', compare: 'previous_period' });
    await expectMetrics({ range: 'last_30_days', tz: TZ, compare: 'previous_period' });
    await settled(page);
    // First paint on a fresh load of the page.
    const fresh = await context.newPage();
    await fresh.goto(`${url}?range=last_30_days&tz=${encodeURIComponent(TZ)}&compare=previous_period&interval=day`);
    await fresh.waitForFunction(() => performance.getEntriesByName('pathlens:metrics').length > 0, null, { timeout: 10_000 });
    const timing = await fresh.evaluate(() => ({
      fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
      metrics: performance.getEntriesByName('pathlens:metrics')[0]?.startTime,
    }));
    await fresh.close();
    console.log(`first paint of the video page: first-contentful-paint ${timing.fcp?.toFixed(0)} ms, top metrics rendered ${timing.metrics?.toFixed(0)} ms after navigation start`);
    assert.ok(timing.fcp < 1000, `first contentful paint took ${timing.fcp} ms`);
    assert.ok(timing.metrics < 2000, `the top metrics rendered after ${timing.metrics} ms`);
    await page.waitForSelector('#sankey-chart canvas');
    await page.waitForSelector('#graph-chart canvas');
    await shot('video.png');
    await panelShot('#paths', 'paths.png');
  });

  test('changing the range and the comparison changes the numbers to the API’s', async () => {
    await page.selectOption('#range', 'last_7_days');
    await waitForQuery(page, { range: 'last_7_days' });
    await expectMetrics({ range: 'last_7_days', tz: TZ, compare: 'previous_period' });
    await page.selectOption('#compare', 'previous_year');
    await waitForQuery(page, { compare: 'previous_year' });
    await expectMetrics({ range: 'last_7_days', tz: TZ, compare: 'previous_year' });
    // A custom range with a custom comparison start.
    const totals = await api.report(VIDEO, 'totals', { range: 'last_30_days', tz: TZ });
    const from = totals.period.from;
    const to = totals.period.to;
    await page.selectOption('#range', 'custom');
    await page.fill('#from', from);
    await page.fill('#to', to);
    await page.click('#range ~ form button[type=submit]');
    await waitForQuery(page, { from, to });
    await page.selectOption('#compare', 'custom');
    await page.fill('#compare-start', from.replace(/^(\d{4})/, (y) => String(Number(y) - 1)));
    await page.click('#compare ~ form button[type=submit]');
    const compare = from.replace(/^(\d{4})/, (y) => String(Number(y) - 1));
    await waitForQuery(page, { compare });
    await expectMetrics({ from, to, tz: TZ, compare });
    // Back to the defaults, through the browser's history as a person would.
    await page.goto(`${demo.base}/videos/${VIDEO}?range=last_30_days&tz=${encodeURIComponent(TZ)}&compare=previous_period`);
    await expectMetrics({ range: 'last_30_days', tz: TZ, compare: 'previous_period' });
  });

  test('hovering the chart shows the values of both periods for that point', async () => {
    await settled(page);
    const series = await api.report(VIDEO, 'timeseries', { range: 'last_30_days', tz: TZ, compare: 'previous_period', interval: 'day' });
    const chart = page.locator('#performance-chart');
    await chart.scrollIntoViewIfNeeded();
    const box = await chart.boundingBox();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
    const tooltip = page.locator('.chart-tooltip .tt');
    await tooltip.waitFor({ state: 'visible' });
    const bucket = await tooltip.getAttribute('data-bucket');
    const row = series.rows.find((r) => r.bucket === bucket);
    assert.ok(row, `the tooltip's bucket ${bucket} is in the API's series`);
    const type = columnType(series, 'plays');
    assert.equal(await tooltip.locator('[data-series=current]').textContent(), formatValue(row.plays, type));
    assert.equal(await tooltip.locator('[data-series=previous]').textContent(), formatValue(row.plays_previous, type));
    assert.equal(await tooltip.locator('[data-series=change]').textContent(), formatChange(row.plays_change, row.plays_previous));
    await panelShot('#performance', 'performance-tooltip.png');
    // Another metric, from its card.
    await page.click('.metric[data-metric=minutes_viewed]');
    await waitForQuery(page, { metric: 'minutes_viewed' });
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
    await page.mouse.move(box.x + box.width * 0.35, box.y + box.height * 0.5);
    await page.waitForFunction(
      ([b]) => {
        const tt = document.querySelector('.chart-tooltip .tt');
        return tt && tt.getAttribute('data-bucket') !== b;
      },
      [bucket],
    );
    const other = await tooltip.getAttribute('data-bucket');
    const otherRow = series.rows.find((r) => r.bucket === other);
    assert.equal(await tooltip.locator('[data-series=current]').textContent(), formatValue(otherRow.minutes_viewed, columnType(series, 'minutes_viewed')));
  });

  test('the details table by date and by viewer, and the hour interval', async () => {
    await page.click('[data-details=date]');
    await waitForQuery(page, { details: 'date' });
    const series = await api.report(VIDEO, 'timeseries', { range: 'last_30_days', tz: TZ, compare: 'previous_period', interval: 'day' });
    await page.waitForSelector('#details tbody tr');
    const cells = await page.$$eval('#details tbody tr [data-col=plays]', (tds) => tds.map((td) => td.firstChild.textContent));
    assert.deepEqual(cells, series.rows.map((r) => formatValue(r.plays, 'integer')));
    await page.click('[data-details=viewer]');
    await waitForQuery(page, { details: 'viewer' });
    const viewers = await api.report(VIDEO, 'viewers', { range: 'last_30_days', tz: TZ, compare: 'previous_period', sort: 'minutes_viewed', order: 'desc', page: 1, page_size: 50 });
    await page.waitForFunction((n) => document.querySelectorAll('#details tbody tr').length === n, viewers.rows.length);
    const minutes = await page.$$eval('#details tbody tr [data-col=minutes_viewed]', (tds) => tds.map((td) => td.firstChild.textContent));
    assert.deepEqual(minutes, viewers.rows.map((r) => formatValue(r.minutes_viewed, columnType(viewers, 'minutes_viewed'))));
    await panelShot('#performance', 'details-by-viewer.png');
    await page.click('[data-details=viewer]');
    await waitForQuery(page, { details: null });
    await page.click('[data-interval=week]');
    await waitForQuery(page, { interval: 'week' });
    await settled(page);
  });

  test('sorting the nodes table follows the API’s order', async () => {
    await page.goto(`${demo.base}/videos/${VIDEO}?range=last_30_days&tz=${encodeURIComponent(TZ)}&compare=previous_period`);
    await page.waitForSelector('#nodes tbody tr');
    await settled(page);
    const base = { range: 'last_30_days', tz: TZ, compare: 'previous_period', page_size: 10000 };
    const byPlays = await api.report(VIDEO, 'nodes', { ...base, sort: 'plays', order: 'desc' });
    assert.deepEqual(await nodeOrder(), byPlays.rows.map((r) => r.node_id));
    await page.click('#nodes th button[data-sort=plays]');
    await waitForQuery(page, { sort: 'plays', order: 'asc' });
    const ascending = await api.report(VIDEO, 'nodes', { ...base, sort: 'plays', order: 'asc' });
    await page.waitForFunction((ids) => JSON.stringify([...document.querySelectorAll('#nodes tbody tr')].map((r) => r.dataset.row)) === JSON.stringify(ids), ascending.rows.map((r) => r.node_id));
    assert.equal(await page.getAttribute('#nodes th:has(button[data-sort=plays])', 'aria-sort'), 'ascending');
    await page.click('#nodes th button[data-sort=name]');
    await waitForQuery(page, { sort: 'name', order: 'asc' });
    const byName = await api.report(VIDEO, 'nodes', { ...base, sort: 'name', order: 'asc' });
    await page.waitForFunction((ids) => JSON.stringify([...document.querySelectorAll('#nodes tbody tr')].map((r) => r.dataset.row)) === JSON.stringify(ids), byName.rows.map((r) => r.node_id));
    // Deleted nodes are listed and tagged with their date.
    const deleted = byName.rows.filter((r) => r.deleted_at);
    for (const row of deleted) assert.match(await page.textContent(`#nodes tr[data-row="${row.node_id}"]`), /Deleted/);
    // Changes are coloured by each figure's polarity (more drop-offs is bad
    // news), and 0 → 0 is no change at all ("—").
    let toned = 0;
    for (const row of byName.rows) {
      for (const key of ['plays', 'dropoffs']) {
        const badge = `#nodes tr[data-row="${row.node_id}"] [data-col="${key}"] .change`;
        const change = row[`${key}_change`];
        const previous = row[`${key}_previous`];
        assert.equal((await page.textContent(badge)).replace(/^[▲▼] /, ''), formatChange(change, previous), `${row.node_id} ${key}`);
        if (typeof change === 'number' && previous !== 0 && Math.abs(change) > 0.0005) {
          const good = key === 'dropoffs' ? change < 0 : change > 0;
          assert.match(await page.getAttribute(badge, 'class'), good ? /change-good/ : /change-bad/, `${row.node_id} ${key}`);
          toned += 1;
        }
      }
    }
    assert.ok(toned > 0, 'some changes are coloured');
    const idle = byName.rows.find((r) => r.plays === 0 && r.plays_previous === 0);
    assert.ok(idle, 'a node without plays in either period');
    assert.equal(await page.textContent(`#nodes tr[data-row="${idle.node_id}"] [data-col="plays"] .change`), '—');
    await panelShot('#nodes', 'nodes.png');
  });

  test('opening a node shows its hotspots, viewing curve and heat map', async () => {
    const params = { range: 'last_30_days', tz: TZ, compare: 'previous_period' };
    const nodes = await api.report(VIDEO, 'nodes', { ...params, sort: 'plays', order: 'desc', page_size: 10000 });
    const busiest = nodes.rows[0].node_id;
    // By keyboard: focus the node's button and press Enter.
    await page.focus(`#nodes tr[data-row="${busiest}"] .link-btn`);
    await page.keyboard.press('Enter');
    await waitForQuery(page, { node: busiest });
    await page.waitForSelector('#node table');
    await settled(page);
    const node = await api.report(VIDEO, 'node', { ...params, node: busiest });
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'node');
    const shown = await page.$$eval('#node tbody tr', (rows) => rows.map((r) => ({ id: r.dataset.row, clicks: r.querySelector('[data-col=clicks]').firstChild.textContent })));
    assert.deepEqual(
      shown,
      node.rows.map((r) => ({ id: r.hotspot_id, clicks: formatValue(r.clicks, 'integer') })),
    );
    await waitForText(page, '#node [data-figure=plays] dd', formatValue(node.details.node.plays, 'integer'));
    await page.waitForSelector('#curve-chart canvas');
    await page.waitForSelector('#heatmap-chart canvas');
    await panelShot('#node', 'node.png');
    // Closing it, then selecting the start node in the branching graph
    // (drawn at the left edge, halfway down) opens it again.
    await page.click('#close-node');
    await waitForQuery(page, { node: null });
    assert.equal(await page.isHidden('#node'), true);
    const video = await api.json(`/api/v1/videos/${VIDEO}`);
    const graph = page.locator('#graph-chart');
    await graph.scrollIntoViewIfNeeded();
    const box = await graph.boundingBox();
    await page.mouse.click(box.x + 90, box.y + 36 + (box.height - 36 - 64) / 2);
    await waitForQuery(page, { node: video.start_node });
    await page.waitForSelector('#node table');
    await settled(page);
  });

  test('a country filter changes every panel consistently', async () => {
    await page.click('#add-filter');
    await page.selectOption('#filter-dimension', 'countries');
    await page.fill('#filter-value', 'us');
    await page.keyboard.press('Enter');
    await waitForQuery(page, { countries: 'US' });
    const params = { range: 'last_30_days', tz: TZ, compare: 'previous_period', countries: 'US' };
    const totals = await expectMetrics(params);
    const unfiltered = await api.report(VIDEO, 'totals', { range: 'last_30_days', tz: TZ });
    assert.ok(totals.rows[0].plays < unfiltered.rows[0].plays, 'the filter narrows the plays');
    await settled(page);
    // The nodes table.
    const nodes = await api.report(VIDEO, 'nodes', { ...params, sort: 'name', order: 'asc', page_size: 10000 });
    const plays = await page.$$eval('#nodes tbody tr [data-col=plays]', (tds) => tds.map((td) => td.firstChild.textContent));
    assert.deepEqual(plays, nodes.rows.map((r) => formatValue(r.plays, 'integer')));
    // The open node's hotspots.
    const node = await api.report(VIDEO, 'node', { ...params, node: new URL(page.url()).searchParams.get('node') });
    const clicks = await page.$$eval('#node tbody tr [data-col=clicks]', (tds) => tds.map((td) => td.firstChild.textContent));
    assert.deepEqual(clicks, node.rows.map((r) => formatValue(r.clicks, 'integer')));
    // The chart's table by date adds up to the top metric.
    await page.click('[data-details=date]');
    await page.waitForSelector('#details tbody tr');
    const interval = await page.getAttribute('[data-interval][aria-pressed=true]', 'data-interval');
    const series = await api.report(VIDEO, 'timeseries', { ...params, interval });
    const byDate = await page.$$eval('#details tbody tr [data-col=plays]', (tds) => tds.map((td) => td.firstChild.textContent));
    assert.deepEqual(byDate, series.rows.map((r) => formatValue(r.plays, 'integer')));
    assert.equal(series.rows.reduce((sum, r) => sum + r.plays, 0), totals.rows[0].plays);
    // The transitions behind the paths, exported from the panel.
    const file = await download(() => page.click('#paths [data-csv]'));
    const { compare: _, ...current } = params;
    assert.equal(file.bytes.toString('utf8'), await api.csv(VIDEO, 'transitions', { ...current, page_size: 10000 }));
    assert.match(await page.textContent('.chips'), /United States \(US\)/);
    await shot('video-filtered.png');
    // Removing the chip restores the unfiltered numbers.
    await page.click('.chip-remove');
    await waitForQuery(page, { countries: null });
    await expectMetrics({ range: 'last_30_days', tz: TZ, compare: 'previous_period' });
  });

  test('CSV downloads and the ZIP export equal the API’s CSV', async () => {
    await settled(page);
    const state = new URL(page.url()).searchParams;
    const params = { range: 'last_30_days', tz: TZ, compare: 'previous_period' };
    const nodesCsv = await download(() => page.click('#nodes [data-csv]'));
    assert.equal(nodesCsv.name, `${VIDEO}-nodes.csv`);
    assert.equal(nodesCsv.bytes.toString('utf8'), await api.csv(VIDEO, 'nodes', { ...params, sort: state.get('sort') ?? 'plays', order: state.get('order') ?? 'desc', page_size: 10000 }));
    const totalsCsv = await download(() => page.click('#metrics [data-csv]'));
    assert.equal(totalsCsv.bytes.toString('utf8'), await api.csv(VIDEO, 'totals', params));
    const zip = await download(() => page.click('#export-zip'));
    assert.match(zip.name, /^onboarding-\d{4}-\d{2}-\d{2}_\d{4}-\d{2}-\d{2}\.zip$/);
    const files = unzipSync(new Uint8Array(zip.bytes));
    const names = Object.keys(files).sort();
    const node = state.get('node');
    assert.ok(names.includes('totals.csv') && names.includes('nodes.csv') && names.includes('transitions.csv') && names.includes('viewers.csv'), names.join(', '));
    assert.ok(names.some((n) => n.startsWith(`node-${node}-heatmap-`)), names.join(', '));
    assert.equal(strFromU8(files['totals.csv']), await api.csv(VIDEO, 'totals', params));
    assert.equal(strFromU8(files['transitions.csv']), await api.csv(VIDEO, 'transitions', { range: 'last_30_days', tz: TZ, page_size: 10000 }));
    assert.equal(strFromU8(files[`node-${node}-curve.csv`]), await api.csv(VIDEO, 'curve', { ...params, node }));
  });

  test('themes, phone width, and API errors shown as they come', async () => {
    await page.click('.topbar-end .icon-btn');
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    await settled(page);
    await shot('video-dark.png');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${demo.base}/videos/${VIDEO}?range=last_30_days&tz=${encodeURIComponent(TZ)}&compare=previous_period`);
    await settled(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow} px at phone width`);
    // The nodes overview is one card per node: each figure in view, none
    // over another.
    const cells = await page.$$eval('#nodes tbody tr:first-child > *', (all) =>
      all.map((cell) => {
        const r = cell.getBoundingClientRect();
        return { col: cell.dataset.col, left: r.left, right: r.right, top: r.top, bottom: r.bottom };
      }),
    );
    assert.equal(cells.length, await page.locator('#nodes thead th').count(), "every column in a node's card");
    assert.ok(cells.length >= 7, `${cells.length} figures in a node's card`);
    for (const cell of cells) assert.ok(cell.left >= 0 && cell.right <= 390 + 1, `${cell.col} is in view at 390 px (${cell.left}–${cell.right})`);
    for (const [i, a] of cells.entries()) {
      for (const b of cells.slice(i + 1)) {
        const apart = a.right <= b.left + 0.5 || b.right <= a.left + 0.5 || a.bottom <= b.top + 0.5 || b.bottom <= a.top + 0.5;
        assert.ok(apart, `${a.col} and ${b.col} overlap at 390 px`);
      }
    }
    await panelShot('#nodes', 'nodes-phone.png');
    await shot('video-phone.png');
    // A node's panel with its heat map, at the same width.
    await page.goto(`${demo.base}/videos/${VIDEO}?range=last_30_days&tz=${encodeURIComponent(TZ)}&node=n-intro`);
    await page.waitForSelector('#heatmap-chart canvas');
    await settled(page);
    const nodeOverflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(nodeOverflow <= 1, `the node panel scrolls sideways by ${nodeOverflow} px at phone width`);
    await panelShot('#node', 'node-phone.png');
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.click('.topbar-end .icon-btn');
    // (An unknown video is a page of its own: see the test of error pages.)
    await page.goto(`${demo.base}/videos/${VIDEO}?range=last_30_days&tz=${encodeURIComponent(TZ)}&node=not-a-node`);
    await page.waitForSelector('#node .notice-error');
    assert.match(await page.textContent('#node .error-message'), /not-a-node/);
  });

  test('a comparison period without data is said in words', async () => {
    // The first week of traffic, compared with the week before it.
    const series = await api.report(VIDEO, 'timeseries', { range: 'last_12_months', tz: TZ, interval: 'day', page_size: 10000 });
    const first = series.rows.find((r) => r.impressions > 0 || r.plays > 0);
    assert.ok(first, 'the demo has traffic');
    const from = first.bucket;
    const to = new Date(Date.parse(`${from}T00:00:00Z`) + 6 * 86_400_000).toISOString().slice(0, 10);
    const params = { from, to, tz: TZ, compare: 'previous_period' };
    const totals = await api.report(VIDEO, 'totals', params);
    assert.equal(totals.rows[0].plays_previous, 0);
    await page.goto(`${demo.base}/videos/${VIDEO}?from=${from}&to=${to}&tz=${encodeURIComponent(TZ)}&compare=previous_period`);
    await page.waitForSelector('.comparison-empty');
    assert.match(await page.textContent('.comparison-empty'), /No data in the comparison period/);
    await waitForText(page, '.metric[data-metric="plays"] .change', 'new');
    await panelShot('#metrics', 'comparison-empty.png');
  });

  test('an unknown video and a refused setting are one message with the way back', async () => {
    await page.goto(`${demo.base}/videos/no-such-video`);
    await page.waitForSelector('.page-error');
    assert.match(await page.textContent('.page-error h1'), /No such video/);
    assert.equal(await page.locator('.notice-error').count(), 0, 'no box per panel');
    await shot('error-unknown-video.png');
    await page.click('.page-error a[href="/"]');
    await page.waitForSelector('#videos-table');

    await page.goto(`${demo.base}/videos/${VIDEO}?range=last_30_days&tz=Mars%2FOlympus`);
    await page.waitForSelector('.page-error');
    assert.match(await page.textContent('.page-error'), /tz/);
    assert.equal(await page.locator('.notice-error').count(), 0, 'no box per panel');
    await shot('error-bad-setting.png');
    await page.click('#reset-settings');
    await page.waitForSelector('#metrics');
    const totals = await api.report(VIDEO, 'totals', { range: 'last_30_days', tz: TZ });
    await waitForText(page, '.metric[data-metric="plays"] .metric-value', formatValue(totals.rows[0].plays, 'integer'));
  });

  test('the interval follows the date range until the reader chooses one', async () => {
    const pressed = () => page.getAttribute('[data-interval][aria-pressed=true]', 'data-interval');
    const query = () => new URL(page.url()).searchParams.get('interval');
    await page.goto(`${demo.base}/videos/${VIDEO}?range=last_12_months&tz=${encodeURIComponent(TZ)}`);
    await page.waitForSelector('#performance-chart');
    await settled(page);
    assert.equal(await pressed(), 'week');
    assert.equal(await page.getAttribute('#interval-auto', 'aria-pressed'), 'true');
    assert.equal(query(), null, 'an automatic interval stays out of the address');
    const weekly = await api.report(VIDEO, 'timeseries', { range: 'last_12_months', tz: TZ, interval: 'week', page_size: 10000 });
    await page.waitForFunction(() => document.querySelector('#performance-chart')?.getAttribute('aria-label')?.includes('by week'));
    // Every week of the year is charted (a chart is not paged).
    await page.click('[data-details=date]');
    await page.waitForFunction((n) => document.querySelectorAll('#details tbody tr').length === n, weekly.rows.length);
    await page.click('[data-interval=month]');
    await waitForQuery(page, { interval: 'month' });
    assert.equal(await page.getAttribute('#interval-auto', 'aria-pressed'), 'false');
    await page.click('#interval-auto');
    await page.waitForFunction(() => !new URL(location.href).searchParams.has('interval'));
    assert.equal(await pressed(), 'week');
    await page.goto(`${demo.base}/videos/${VIDEO}?range=last_30_days&tz=${encodeURIComponent(TZ)}`);
    await page.waitForSelector('#performance-chart');
    assert.equal(await pressed(), 'day');
    // The last 30 days end today: today's point is marked as not over.
    await page.waitForSelector('.chart-partial');
    assert.match(await page.textContent('.chart-partial'), /not over yet/);
    await panelShot('#performance', 'performance-partial.png');
    const day = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
    await page.goto(`${demo.base}/videos/${VIDEO}?from=${day}&to=${day}&tz=${encodeURIComponent(TZ)}`);
    await page.waitForSelector('#performance-chart');
    assert.equal(await pressed(), 'hour');
    await settled(page);
    assert.equal(await page.locator('.chart-partial').count(), 0, 'a day that is over has no partial point');
  });

  test('no script errors on any page', () => {
    assert.deepEqual(problems, []);
  });
});
