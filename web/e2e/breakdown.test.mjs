// The breakdown panel and the filter suggestions in headless Chromium
// against `pathlens demo` data (several countries, devices, browsers,
// referrers, applications and playback types): what a person sees must
// equal what the API answers, and selecting a value filters the dashboard
// to exactly that value's figures.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { apiClient, ARTIFACTS, columnType, formatChange, formatValue, launchBrowser, settled, startDemo, waitForQuery, waitForText, watchProblems } from './support.mjs';

const TZ = 'Europe/Paris';
const VIDEO = 'onboarding';
const PERIOD = { range: 'last_30_days', tz: TZ };
const COMPARED = { ...PERIOD, compare: 'previous_period' };
const DIMENSIONS = ['country', 'device', 'os', 'browser', 'referrer_domain', 'application', 'playback_type'];
const FILTER = { country: 'countries', device: 'devices', os: 'os', browser: 'browsers', referrer_domain: 'referrer_domains', application: 'applications', playback_type: 'playback_types' };
const FIGURES = ['plays', 'unique_viewers', 'minutes_viewed'];
const names = new Intl.DisplayNames(['en-US'], { type: 'region' });

let demo;
let api;
let browser;
let context;
let page;
const problems = [];

function pageUrl(params = {}) {
  return `${demo.base}/videos/${VIDEO}?${new URLSearchParams({ ...COMPARED, ...params })}`;
}

/** A screenshot of one element, without the sticky top bar over it. */
async function elementShot(selector, name) {
  await page.locator(selector).screenshot({ path: join(ARTIFACTS, name), style: '.topbar { position: static !important; }' });
}

function breakdown(dimension, params = COMPARED) {
  return api.report(VIDEO, 'breakdown', { ...params, dimension, page: 1, page_size: 100 });
}

/** Opens a dimension's tab and waits for its rows. */
async function openTab(dimension) {
  await page.click(`#breakdown-tab-${dimension}`);
  await page.waitForSelector(`#breakdown-view[data-dimension="${dimension}"] tbody tr`);
  await page.waitForFunction((d) => document.querySelector(`#breakdown-tab-${d}`)?.getAttribute('aria-selected') === 'true', dimension);
  await settled(page);
}

/** The rows of the breakdown table as shown: value and each figure. */
function shownRows() {
  return page.$$eval('#breakdown-view tbody tr', (rows) =>
    rows.map((row) => {
      const text = (col) => row.querySelector(`[data-col="${col}"]`)?.firstChild?.textContent ?? '';
      const change = (col) => row.querySelector(`[data-col="${col}"] .change`)?.textContent ?? null;
      return {
        value: row.dataset.row,
        name: row.querySelector('.value-name')?.textContent ?? '',
        code: row.querySelector('.value-code')?.textContent ?? null,
        plays: text('plays'),
        share: row.querySelector('[data-col="share_of_plays"] .share-text')?.textContent ?? '',
        unique_viewers: text('unique_viewers'),
        minutes_viewed: text('minutes_viewed'),
        changes: { plays: change('plays'), unique_viewers: change('unique_viewers'), minutes_viewed: change('minutes_viewed') },
      };
    }),
  );
}

function expectedChange(row, key) {
  const change = row[`${key}_change`];
  const previous = row[`${key}_previous`];
  const arrow = typeof change === 'number' && previous !== 0 ? (change > 0.0005 ? '▲ ' : change < -0.0005 ? '▼ ' : '') : '';
  return `${arrow}${formatChange(change, previous)}`;
}

/** The metric cards equal `row`'s figures (a breakdown row or totals). */
async function expectCards(row, report) {
  for (const key of FIGURES) {
    await waitForText(page, `.metric[data-metric="${key}"] .metric-value`, formatValue(row[key], columnType(report, key)));
  }
}

/**
 * A point inside the map's region coloured `rgb` (the top of the scale:
 * the most played country): the centre of a block of 7×7 pixels all of that colour,
 * above the legend.
 */
async function pointOfColour(rgb) {
  return page.evaluate((wanted) => {
    const canvas = document.querySelector('#breakdown-map canvas');
    const ctx = canvas.getContext('2d');
    const { width, height } = canvas;
    const data = ctx.getImageData(0, 0, width, height).data;
    const near = (x, y) => {
      const i = (y * width + x) * 4;
      return Math.abs(data[i] - wanted[0]) <= 2 && Math.abs(data[i + 1] - wanted[1]) <= 2 && Math.abs(data[i + 2] - wanted[2]) <= 2;
    };
    const scale = width / canvas.getBoundingClientRect().width;
    const legend = Math.round(40 * scale);
    for (let y = 3; y < height - legend; y += 2) {
      for (let x = 3; x < width - 3; x += 2) {
        if (!near(x, y)) continue;
        let inside = true;
        for (let dy = -3; dy <= 3 && inside; dy += 1) for (let dx = -3; dx <= 3 && inside; dx += 1) inside = near(x + dx, y + dy);
        if (inside) {
          const box = canvas.getBoundingClientRect();
          return { x: box.left + x / scale, y: box.top + y / scale };
        }
      }
    }
    return null;
  }, rgb);
}

function hexToRgb(hex) {
  const n = Number.parseInt(hex.replace('#', ''), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

describe('breakdown', () => {
  before(async () => {
    demo = await startDemo();
    api = apiClient(demo.base, demo.token);
    browser = await launchBrowser();
    context = await browser.newContext({ locale: 'en-US', timezoneId: TZ, viewport: { width: 1280, height: 900 }, colorScheme: 'light', acceptDownloads: true });
    await context.addInitScript((token) => localStorage.setItem('pathlens.token', token), demo.token);
    page = await context.newPage();
    watchProblems(page, problems);
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
  });

  test('the seeded data has several values of every dimension', async () => {
    const counts = {};
    for (const dimension of DIMENSIONS) counts[dimension] = (await breakdown(dimension, PERIOD)).total_rows;
    assert.ok(counts.country >= 8, `countries: ${counts.country}`);
    for (const dimension of ['device', 'os', 'browser', 'referrer_domain', 'application', 'playback_type']) assert.ok(counts[dimension] >= 3, `${dimension}: ${counts[dimension]}`);
  });

  test('every breakdown shows its values with the API’s figures and changes', async () => {
    await page.goto(pageUrl());
    await page.waitForSelector('#breakdown-view[data-dimension="country"] tbody tr');
    await settled(page);
    for (const dimension of DIMENSIONS) {
      await openTab(dimension);
      const answer = await breakdown(dimension);
      assert.ok(answer.comparison, 'the report compares');
      const expected = answer.rows.slice(0, 10);
      const shown = await shownRows();
      assert.deepEqual(
        shown.map((r) => r.value),
        expected.map((r) => String(r.value)),
        `${dimension}: the values, ranked by plays`,
      );
      for (const [i, row] of expected.entries()) {
        const seen = shown[i];
        const what = `${dimension} ${row.value}`;
        for (const key of FIGURES) {
          assert.equal(seen[key], formatValue(row[key], columnType(answer, key)), `${what} ${key}`);
          assert.equal(seen.changes[key], expectedChange(row, key), `${what} ${key} change`);
        }
        assert.equal(seen.share, formatValue(row.share_of_plays, 'ratio'), `${what} share`);
        if (dimension === 'country' && row.value !== 'unknown') {
          assert.equal(seen.name, names.of(row.value), `${what}: the country's name`);
          assert.equal(seen.code, row.value, `${what}: its code stays in view`);
        }
      }
      // Shares of every value add up to the whole.
      if (answer.total_rows <= 100) {
        const sum = answer.rows.reduce((s, r) => s + (r.share_of_plays ?? 0), 0);
        assert.ok(Math.abs(sum - 1) < 1e-6, `${dimension}: shares add up to ${sum}`);
      }
      const count = await page.textContent('#breakdown-view .breakdown-count');
      assert.match(count, new RegExp(answer.total_rows > 10 ? `Top 10 of ${answer.total_rows} values` : `${answer.total_rows} values?`), dimension);
      if (dimension === 'browser') await elementShot('#breakdown', 'breakdown.png');
    }
  });

  test('“Show all” lists every value, and the CSV equals the API’s', async () => {
    await openTab('country');
    const answer = await breakdown('country');
    assert.ok(answer.total_rows > 10, `more countries than the top 10 (${answer.total_rows})`);
    await page.click('#breakdown-all');
    await waitForQuery(page, { ball: '1' });
    await page.waitForFunction((n) => document.querySelectorAll('#breakdown-view tbody tr').length === n, answer.rows.length);
    assert.deepEqual(
      (await shownRows()).map((r) => r.value),
      answer.rows.map((r) => String(r.value)),
    );
    const [file] = await Promise.all([page.waitForEvent('download'), page.click('#breakdown [data-csv]')]);
    const text = (await readFile(await file.path())).toString('utf8');
    assert.equal(text, await api.csv(VIDEO, 'breakdown', { ...COMPARED, dimension: 'country', page: 1, page_size: 100 }));
    assert.match(file.suggestedFilename(), /\.csv$/);
    await page.click('#breakdown-all');
    await waitForQuery(page, { ball: null });
    await page.waitForFunction(() => document.querySelectorAll('#breakdown-view tbody tr').length === 10);
  });

  test('the countries’ world map is drawn, shaded by plays, with a tooltip per country', async () => {
    await page.goto(pageUrl());
    await page.waitForSelector('#breakdown-map canvas');
    await settled(page);
    const answer = await breakdown('country');
    const top = answer.rows.find((r) => r.value !== 'unknown');
    // The most played country has the shade at the top of the scale.
    const topShade = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--heat-2').trim());
    await page.locator('#breakdown-map').scrollIntoViewIfNeeded();
    let point = null;
    for (let i = 0; i < 20 && !point; i += 1) {
      point = await pointOfColour(hexToRgb(topShade));
      if (!point) await page.waitForTimeout(250);
    }
    assert.ok(point, `a region of the map has the top shade of the scale (${topShade})`);
    const at = await page.locator('#breakdown-map canvas').boundingBox();
    await page.mouse.move(point.x, point.y);
    await page.waitForSelector(`.chart-tooltip .tt[data-country="${top.value}"]`);
    const tooltip = await page.textContent(`.chart-tooltip .tt[data-country="${top.value}"]`);
    assert.match(tooltip, new RegExp(`${names.of(top.value)} \\(${top.value}\\)`));
    assert.equal(await page.textContent(`.chart-tooltip .tt[data-country="${top.value}"] [data-key="plays"]`), formatValue(top.plays, 'integer'));
    await elementShot('#breakdown', 'breakdown-map.png');
    // Selecting the country on the map filters the dashboard by it (found
    // again: the screenshot scrolled the page).
    await page.locator('#breakdown-map').scrollIntoViewIfNeeded();
    const now = await page.locator('#breakdown-map canvas').boundingBox();
    await page.mouse.click(now.x + point.x - at.x, now.y + point.y - at.y);
    await waitForQuery(page, { countries: top.value });
    const totals = await api.report(VIDEO, 'totals', { ...COMPARED, countries: top.value });
    for (const key of FIGURES) assert.equal(totals.rows[0][key], top[key], `${key} of ${top.value}: the breakdown row equals the filtered totals`);
    await expectCards(top, answer);
    assert.match(await page.textContent('.chips'), new RegExp(`${names.of(top.value)} \\(${top.value}\\)`));
  });

  test('selecting a value filters the dashboard to that value’s figures, and the filter can be removed', async () => {
    await page.goto(pageUrl({ breakdown: 'browser' }));
    await page.waitForSelector('#breakdown-view[data-dimension="browser"] tbody tr');
    await settled(page);
    const answer = await breakdown('browser');
    // The second most played, so that the filter visibly changes the numbers.
    const row = answer.rows[1];
    await page.click(`#breakdown-view tr[data-row="${row.value}"] .link-btn`);
    await waitForQuery(page, { browsers: String(row.value), breakdown: 'browser' });
    const totals = await api.report(VIDEO, 'totals', { ...COMPARED, browsers: row.value });
    for (const key of FIGURES) assert.equal(totals.rows[0][key], row[key], `${key}: the breakdown row equals the filtered totals`);
    await expectCards(row, answer);
    assert.match(await page.textContent('.chips'), new RegExp(`Browser:\\s*${row.value}`));
    // The panel says it is narrowed, lists that value alone, selected.
    await page.waitForSelector('#breakdown-unfilter');
    await page.waitForFunction(() => document.querySelectorAll('#breakdown-view tbody tr').length === 1);
    assert.equal(await page.getAttribute('#breakdown-view tbody tr', 'data-row'), String(row.value));
    assert.match(await page.getAttribute('#breakdown-view tbody tr', 'class'), /selected/);
    // Another dimension's breakdown now counts that browser's viewers only.
    await openTab('device');
    const devices = await breakdown('device', { ...COMPARED, browsers: row.value });
    assert.deepEqual(
      (await shownRows()).map((r) => [r.value, r.plays]),
      devices.rows.slice(0, 10).map((r) => [String(r.value), formatValue(r.plays, 'integer')]),
    );
    // By keyboard: the value's button, then Enter.
    await page.focus(`#breakdown-view tr[data-row="${devices.rows[0].value}"] .link-btn`);
    await page.keyboard.press('Enter');
    await waitForQuery(page, { browsers: String(row.value), devices: String(devices.rows[0].value) });
    await expectCards(devices.rows[0], devices);
    // Removed from the filter bar, as any filter.
    await page.click(`.chip-remove[aria-label*="${devices.rows[0].value}"]`);
    await waitForQuery(page, { devices: null });
    await openTab('browser');
    await page.click('#breakdown-unfilter');
    await waitForQuery(page, { browsers: null });
    const whole = await api.report(VIDEO, 'totals', COMPARED);
    await expectCards(whole.rows[0], whole);
  });

  test('the filter inputs suggest the values present in the period', async () => {
    await page.goto(pageUrl());
    await settled(page);
    await page.click('#add-filter');
    await page.selectOption('#filter-dimension', 'countries');
    await page.click('#filter-value');
    const present = await api.json(`/api/v1/videos/${VIDEO}/values/country`, { ...PERIOD, limit: 100 });
    assert.ok(present.values.length >= 8, `${present.values.length} countries present`);
    await page.waitForFunction((n) => document.querySelectorAll('#filter-suggestions [role=option]').length === n, present.values.length);
    const options = await page.$$eval('#filter-suggestions [role=option]', (items) =>
      items.map((li) => ({ value: li.dataset.value, name: li.querySelector('.combo-name').textContent, detail: li.querySelector('.combo-detail')?.textContent })),
    );
    assert.deepEqual(
      options.map((o) => o.value),
      present.values.map((v) => v.value),
      'the values present, most played first',
    );
    for (const [i, v] of present.values.entries()) {
      if (v.value !== 'unknown') assert.equal(options[i].name, names.of(v.value), `${v.value} is named`);
      assert.equal(options[i].detail, v.plays > 0 ? `${formatValue(v.plays, 'integer')} ${v.plays === 1 ? 'play' : 'plays'}` : 'no plays');
    }
    // The filter bar with the list open, for the record.
    await page.evaluate(() => window.scrollTo(0, 0));
    const bar = await page.locator('.filterbar').boundingBox();
    const list = await page.locator('#filter-suggestions').boundingBox();
    await page.screenshot({
      path: join(ARTIFACTS, 'filter-suggestions.png'),
      clip: { x: bar.x - 8, y: bar.y - 8, width: bar.width + 16, height: Math.max(bar.y + bar.height, list.y + list.height) - bar.y + 16 },
    });
    // Typing a name narrows the list; arrows and Enter take a value.
    await page.fill('#filter-value', 'germ');
    await page.waitForFunction(() => document.querySelector('#filter-suggestions [role=option]')?.dataset.value === 'DE');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    assert.equal(await page.inputValue('#filter-value'), 'DE');
    await page.keyboard.press('Enter');
    await waitForQuery(page, { countries: 'DE' });
    await page.waitForSelector('.chip');
    assert.match(await page.textContent('.chips'), /Germany \(DE\)/);

    // Other dimensions: the values under the other filters (here Germany).
    await page.click('#add-filter');
    await page.selectOption('#filter-dimension', 'browsers');
    await page.click('#filter-value');
    const browsers = await api.json(`/api/v1/videos/${VIDEO}/values/browser`, { ...PERIOD, countries: 'DE', limit: 100 });
    await page.waitForFunction((n) => document.querySelectorAll('#filter-suggestions [role=option]').length === n, browsers.values.length);
    assert.deepEqual(
      await page.$$eval('#filter-suggestions [role=option]', (items) => items.map((li) => li.dataset.value)),
      browsers.values.map((v) => v.value),
    );
    // A name typed in full, in any case, stands for its value.
    await page.fill('#filter-value', browsers.values[0].value.toLowerCase());
    await page.keyboard.press('Escape');
    await page.click('#filter-form button[type=submit]');
    await waitForQuery(page, { countries: 'DE', browsers: browsers.values[0].value });

    // Playback types are a choice, each with its plays.
    await page.click('#add-filter');
    await page.selectOption('#filter-dimension', 'playback_types');
    const playback = await api.json(`/api/v1/videos/${VIDEO}/values/playback_type`, { ...PERIOD, countries: 'DE', browsers: browsers.values[0].value });
    const vod = playback.values.find((v) => v.value === 'vod');
    await page.waitForFunction((text) => [...document.querySelectorAll('#filter-value option')].some((o) => o.textContent === text), `On demand (vod) · ${formatValue(vod.plays, 'integer')} plays`);
    await page.click('#clear-filters');
    await waitForQuery(page, { countries: null, browsers: null });
  });

  test('at phone width the breakdown fits: no sideways scroll, every figure in view, none over another', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(pageUrl());
    await page.waitForSelector('#breakdown-map canvas');
    await settled(page);
    for (const dimension of ['country', 'referrer_domain']) {
      if (dimension !== 'country') await openTab(dimension);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 1, `${dimension}: the page scrolls sideways by ${overflow} px at phone width`);
      const boxes = await page.$$eval('#breakdown .tab, #breakdown-map, #breakdown-view tbody tr:first-child > *, #breakdown-view tbody tr:first-child .value-name, #breakdown-view tbody tr:first-child .value-code', (all) =>
        all.map((el) => {
          const r = el.getBoundingClientRect();
          return { what: el.dataset.col || el.dataset.dimension || el.id || el.className, left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width };
        }),
      );
      for (const box of boxes) assert.ok(box.left >= 0 && box.right <= 390 + 1, `${dimension}: ${box.what} is in view at 390 px (${box.left}–${box.right})`);
      const cells = boxes.filter((b) => FIGURES.includes(b.what) || b.what === 'value' || b.what === 'share_of_plays');
      assert.equal(cells.length, 5, `${dimension}: every figure of a value's card`);
      const tabs = boxes.filter((b) => DIMENSIONS.includes(b.what));
      for (const group of [cells, tabs]) {
        for (const [i, a] of group.entries()) {
          for (const b of group.slice(i + 1)) {
            const apart = a.right <= b.left + 0.5 || b.right <= a.left + 0.5 || a.bottom <= b.top + 0.5 || b.bottom <= a.top + 0.5;
            assert.ok(apart, `${dimension}: ${a.what} and ${b.what} overlap at 390 px`);
          }
        }
      }
      // Each cell's text fits its box (no figure cut or spilling).
      const spills = await page.$$eval('#breakdown-view tbody tr > *, #breakdown .tab', (all) => all.filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.dataset.col ?? el.textContent));
      assert.deepEqual(spills, [], `${dimension}: text wider than its box`);
      if (dimension === 'country') await elementShot('#breakdown', 'breakdown-phone.png');
    }
    // The suggestions stay on the screen too.
    await page.click('#add-filter');
    await page.selectOption('#filter-dimension', 'referrer_domains');
    await page.click('#filter-value');
    await page.waitForSelector('#filter-suggestions [role=option]');
    const list = await page.locator('#filter-suggestions').boundingBox();
    assert.ok(list.x >= 0 && list.x + list.width <= 391, `the suggestions are in view (${list.x}–${list.x + list.width})`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `with the suggestions open the page scrolls sideways by ${overflow} px`);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test('in the dark theme the map and the bars follow the theme', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(pageUrl());
    await page.waitForSelector('#breakdown-map canvas');
    await settled(page);
    const topShade = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--heat-2').trim());
    await page.locator('#breakdown-map').scrollIntoViewIfNeeded();
    let point = null;
    for (let i = 0; i < 20 && !point; i += 1) {
      point = await pointOfColour(hexToRgb(topShade));
      if (!point) await page.waitForTimeout(250);
    }
    assert.ok(point, `the most played country has the dark theme's top shade (${topShade})`);
    await elementShot('#breakdown', 'breakdown-dark.png');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  test('no script errors', () => {
    assert.deepEqual(problems, []);
  });
});
