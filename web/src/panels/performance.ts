// Performance over time: one metric per chart, by hour, day, week or month,
// the comparison period drawn beside the current one; "View details" shows
// the same numbers as a table by date, or the viewers of the period.

import { report, type ColumnType, type Report, type Row } from '../api';
import { fill, h, icon, ICONS } from '../dom';
import { formatChange, formatCompact, formatInteger, formatPeriod, formatValue, locale } from '../format';
import { loadCharts } from '../lazy';
import { hasFilters, INTERVALS, METRICS, panelParams, withParams, type Interval } from '../state';
import type { Context, PanelView } from '../pages/video';
import { csvButton, dataTable, emptyState, esc, Loader, Panel, type TableColumn } from '../ui';

const MONTHS = new Intl.DateTimeFormat(locale, { month: 'short', year: 'numeric', timeZone: 'UTC' });
const LONG_MONTH = new Intl.DateTimeFormat(locale, { month: 'long', year: 'numeric', timeZone: 'UTC' });
const SHORT_DAY = new Intl.DateTimeFormat(locale, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const LONG_DAY = new Intl.DateTimeFormat(locale, { weekday: 'short', month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' });

function utcDay(day: string): Date {
  return new Date(`${day}T00:00:00Z`);
}

function addDays(day: string, days: number): Date {
  const date = utcDay(day);
  date.setUTCDate(date.getUTCDate() + days);
  return date;
}

/** Axis and tooltip text of a bucket label (2026-03-02, 2026-W13, 2026-03,
 * 2026-03-29T02:00+01:00). */
function readable(label: string, interval: Interval, long: boolean): string {
  if (interval === 'day') return (long ? LONG_DAY : SHORT_DAY).format(utcDay(label));
  if (interval === 'month') return (long ? LONG_MONTH : MONTHS).format(utcDay(`${label}-01`));
  if (interval === 'week') {
    const [year, week] = label.split('-W');
    return long ? `Week ${Number(week)}, ${year}` : `W${Number(week)}`;
  }
  const [day, time] = label.split('T');
  const clock = time.slice(0, 5);
  return long ? `${LONG_DAY.format(utcDay(day))}, ${clock} (UTC${time.slice(5)})` : `${SHORT_DAY.format(utcDay(day))} ${clock}`;
}

/** The comparison period's bucket at the same position. */
function previousLabel(interval: Interval, from: string, index: number): string {
  if (interval === 'day') return LONG_DAY.format(addDays(from, index));
  if (interval === 'hour') {
    const day = addDays(from, Math.floor(index / 24));
    return `${LONG_DAY.format(day)}, ${String(index % 24).padStart(2, '0')}:00`;
  }
  if (interval === 'month') {
    const start = utcDay(from);
    start.setUTCDate(1);
    start.setUTCMonth(start.getUTCMonth() + index);
    return LONG_MONTH.format(start);
  }
  if (index === 0) return `week from ${LONG_DAY.format(utcDay(from))}`;
  const monday = utcDay(from);
  monday.setUTCDate(monday.getUTCDate() - ((monday.getUTCDay() + 6) % 7) + 7 * index);
  return `week from ${LONG_DAY.format(monday)}`;
}

/**
 * The bucket now falls in, when the period runs until now: each row's
 * `start` is its first instant, and the period's last day is its `to` in
 * its zone. `undefined` when every bucket is over.
 */
function inProgress(data: Report): number | undefined {
  const now = Date.now();
  const starts = data.rows.map((r) => Date.parse(String(r.start)));
  const today = new Intl.DateTimeFormat('en-CA', { timeZone: data.tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(now));
  if (!starts.length || today > data.period.to || starts.some((s) => Number.isNaN(s))) return undefined;
  let index: number | undefined;
  starts.forEach((start, i) => {
    if (start <= now) index = i;
  });
  return index;
}

export class PerformancePanel implements PanelView {
  readonly element: HTMLElement;
  private readonly panel = new Panel('performance', 'Performance over time');
  private readonly series = new Loader<Report>();
  private readonly viewers = new Loader<Report>();
  private readonly metric = h('select', { id: 'metric', 'aria-label': 'Metric to chart' });
  private readonly intervals = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Interval' });
  /** Back to the interval the range suggests. */
  private readonly auto = h('button', { type: 'button', class: 'seg', id: 'interval-auto', onclick: () => this.context?.set({ intervalChosen: false }) }, 'Auto');
  private readonly chart = h('div', { class: 'chart', id: 'performance-chart' });
  private readonly chartNote = h('div', { class: 'chart-note' });
  private readonly detailsBar = h('div', { class: 'details-bar' });
  private readonly details = h('div', { class: 'details', id: 'details' });
  private context: Context | null = null;

  constructor() {
    this.element = this.panel.element;
    for (const [key, label] of METRICS) this.metric.append(h('option', { value: key }, label));
    this.metric.addEventListener('change', () => this.context?.set({ metric: this.metric.value }, { replace: true }));
    this.intervals.append(this.auto);
    for (const interval of INTERVALS) {
      this.intervals.append(
        h('button', { type: 'button', class: 'seg', 'data-interval': interval, onclick: () => this.context?.set({ interval, intervalChosen: true }) }, interval[0].toUpperCase() + interval.slice(1)),
      );
    }
    this.panel.actions.append(
      this.metric,
      this.intervals,
      csvButton('the performance over time', () => {
        const state = this.context!.state;
        return { video: state.video, kind: 'timeseries', params: panelParams(state).timeseries };
      }),
    );
    fill(this.panel.body, h('div', { class: 'chart-frame' }, this.chart, this.chartNote), this.detailsBar, this.details);
  }

  update(context: Context): void {
    this.context = context;
    const state = context.state;
    this.metric.value = state.metric;
    for (const button of this.intervals.querySelectorAll<HTMLButtonElement>('button[data-interval]')) {
      button.setAttribute('aria-pressed', String(button.dataset.interval === state.interval));
    }
    this.auto.setAttribute('aria-pressed', String(!state.intervalChosen));
    this.auto.title = state.intervalChosen ? 'Let the interval follow the date range' : `By ${state.interval}, as the date range suggests`;
    const params = panelParams(state).timeseries;
    this.series.run(params.toString(), (signal) => report(state.video, 'timeseries', params, signal), {
      start: () => this.panel.loading(true),
      done: () => {
        this.panel.loading(false);
        this.draw();
        if (state.details === 'date') this.showDetails();
      },
      fail: (error) =>
        this.panel.error(error, () => {
          fill(this.panel.body, h('div', { class: 'chart-frame' }, this.chart, this.chartNote), this.detailsBar, this.details);
          this.series.forget();
          this.update(context);
        }),
    });
    this.showDetailsBar();
    if (state.details === 'viewer') {
      const viewerParams = panelParams(state).viewers;
      this.viewers.run(viewerParams.toString(), (signal) => report(state.video, 'viewers', viewerParams, signal), {
        start: () => this.details.setAttribute('aria-busy', 'true'),
        done: () => {
          this.details.setAttribute('aria-busy', 'false');
          this.showDetails();
        },
        fail: (error) => {
          this.details.setAttribute('aria-busy', 'false');
          fill(this.details, emptyState('Could not load the viewers', String((error as Error).message)));
        },
      });
    }
    if (this.series.value) {
      this.draw();
      this.showDetails();
    }
  }

  redraw(): void {
    this.draw();
  }

  private async draw(): Promise<void> {
    const data = this.series.value;
    const context = this.context;
    if (!data || !context) return;
    const { seriesChart } = await loadCharts();
    const state = context.state;
    const key = state.metric;
    const column = data.columns.find((c) => c.key === key);
    const type: ColumnType = column?.type ?? 'number';
    const label = METRICS.find(([k]) => k === key)?.[1] ?? key;
    const values = data.rows.map((r) => (typeof r[key] === 'number' ? (r[key] as number) : null));
    const comparison = data.comparison;
    const previous = comparison ? data.rows.map((r) => (typeof r[`${key}_previous`] === 'number' ? (r[`${key}_previous`] as number) : null)) : null;
    const interval = (data.details?.interval as Interval) ?? state.interval;
    const labels = data.rows.map((r) => String(r.bucket));
    const partial = inProgress(data);
    const fmt = (v: unknown) => formatValue(v, type) + (key === 'avg_view_time' && typeof v === 'number' ? ' min' : '');
    seriesChart(this.chart, {
      labels: labels.map((l) => readable(l, interval, false)),
      current: { name: formatPeriod(data.period.from, data.period.to), values },
      previous: previous && comparison ? { name: formatPeriod(comparison.from, comparison.to), values: previous } : undefined,
      yFormat: (v) => (type === 'ratio' ? formatValue(v, 'ratio') : formatCompact(v)),
      ariaLabel: `${label} by ${interval}`,
      partial,
      tooltip: (i) => {
        const row = data.rows[i];
        const title = readable(labels[i], interval, true) + (i === partial ? ' (not over yet)' : '');
        let html = `<div class="tt" data-bucket="${esc(labels[i])}"><div class="tt-title">${esc(title)}</div>`;
        html += `<div class="tt-row"><span class="tt-dot tt-current"></span><span class="tt-name">${esc(label)}</span><b class="tt-value" data-series="current">${esc(fmt(row[key]))}</b></div>`;
        if (comparison) {
          html += `<div class="tt-row"><span class="tt-dot tt-previous"></span><span class="tt-name">${esc(previousLabel(interval, comparison.from, i))}</span><b class="tt-value" data-series="previous">${esc(fmt(row[`${key}_previous`]))}</b></div>`;
          html += `<div class="tt-row tt-change"><span class="tt-name">Change</span><b data-series="change">${esc(formatChange(row[`${key}_change`], row[`${key}_previous`]))}</b></div>`;
        }
        return `${html}</div>`;
      },
    });
    const empty = values.every((v) => !v) && (!previous || previous.every((v) => !v));
    fill(
      this.chartNote,
      empty
        ? h(
            'div',
            { class: 'chart-empty' },
            h('strong', null, `No ${label.toLowerCase()} in this period`),
            h('span', null, hasFilters(state) ? 'Nothing matches the filters; remove one to see more.' : 'Choose a longer date range.'),
          )
        : partial !== undefined
          ? h('p', { class: 'chart-partial muted' }, `The last point, ${readable(labels[partial], interval, true)}, is not over yet: drawn dashed, its figures still grow.`)
          : null,
    );
    this.chart.setAttribute('aria-label', `${label} by ${interval}: ${data.rows.length} points`);
  }

  private showDetailsBar(): void {
    const context = this.context!;
    const current = context.state.details;
    const toggle = (value: 'date' | 'viewer', label: string) =>
      h('button', { type: 'button', class: 'seg', 'data-details': value, 'aria-pressed': String(current === value), 'aria-controls': 'details', onclick: () => context.set({ details: current === value ? '' : value }) }, label);
    const csv =
      current === 'date'
        ? csvButton('the table by date', () => ({ video: context.state.video, kind: 'timeseries', params: panelParams(context.state).timeseries }))
        : current === 'viewer'
          ? csvButton('every viewer of the period', () => ({ video: context.state.video, kind: 'viewers', params: withParams(panelParams(context.state).viewers, { page: 1, page_size: 10000 }) }))
          : null;
    fill(
      this.detailsBar,
      h('span', { class: 'details-title' }, icon(ICONS.table), 'View details'),
      h('div', { class: 'segmented', role: 'group', 'aria-label': 'Details table' }, toggle('date', 'By date'), toggle('viewer', 'By viewer')),
      csv,
    );
  }

  private showDetails(): void {
    const context = this.context!;
    const state = context.state;
    if (!state.details) {
      fill(this.details);
      return;
    }
    if (state.details === 'date') {
      const data = this.series.value;
      if (!data) return;
      const comparing = data.comparison !== null;
      const columns: TableColumn[] = [
        { key: 'bucket', label: 'Date', type: 'text', render: (row) => readable(String(row.bucket), (data.details?.interval as Interval) ?? state.interval, true) },
        ...METRICS.map(([key, label]): TableColumn => {
          const column = data.columns.find((c) => c.key === key);
          return { key, label: column?.label ?? label, type: column?.type ?? 'number', compared: true };
        }),
      ];
      fill(this.details, dataTable({ caption: 'Performance by date', columns, rows: data.rows, comparing }));
      return;
    }
    const data = this.viewers.value;
    if (!data) {
      fill(this.details, h('p', { class: 'loading-line' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading viewers…'));
      return;
    }
    if (data.total_rows === 0) {
      fill(this.details, emptyState('No viewers in this period', hasFilters(state) ? 'No viewer matches every filter.' : 'Nobody loaded the player in this period.'));
      return;
    }
    const type = (key: string) => data.columns.find((c) => c.key === key)?.type ?? 'number';
    const columns: TableColumn[] = [
      { key: 'user_id', label: 'Viewer', type: 'text', sortable: true, render: (row: Row) => (row.viewer === 'anonymous' ? h('span', { class: 'muted' }, 'All anonymous viewers') : String(row.user_id)) },
      { key: 'impressions', label: 'Player Impressions', type: type('impressions'), sortable: true, compared: true },
      { key: 'plays', label: 'Plays', type: type('plays'), sortable: true, compared: true },
      { key: 'minutes_viewed', label: 'Minutes Viewed', type: type('minutes_viewed'), sortable: true, compared: true },
      { key: 'avg_view_time', label: 'Avg. View Time (min)', type: type('avg_view_time'), sortable: true, compared: true },
    ];
    const pages = Math.max(1, Math.ceil(data.total_rows / data.page_size));
    fill(
      this.details,
      h('p', { class: 'muted details-note' }, 'Everyone who loaded the player or watched in this period. Unique Viewers counts only those who pressed play, so it can be smaller.'),
      dataTable({
        caption: 'Viewers of the period: everyone who loaded the player or watched',
        columns,
        rows: data.rows,
        comparing: data.comparison !== null,
        sort: { key: state.vsort, order: state.vorder, change: (key, order) => context.set({ vsort: key, vorder: order }) },
      }),
      h(
        'nav',
        { class: 'pager', 'aria-label': 'Viewer pages' },
        h('button', { type: 'button', class: 'btn btn-small', disabled: data.page <= 1, onclick: () => context.set({ vpage: data.page - 1 }) }, 'Previous'),
        h('span', null, `Page ${formatInteger(data.page)} of ${formatInteger(pages)} · ${formatInteger(data.total_rows)} viewers who loaded or watched`),
        h('button', { type: 'button', class: 'btn btn-small', disabled: data.page >= pages, onclick: () => context.set({ vpage: data.page + 1 }) }, 'Next'),
      ),
    );
  }
}

