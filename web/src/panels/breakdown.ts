// Breakdown: the period's plays by country (a world map beside the table),
// device, OS, browser, referrer domain, application and playback type, each
// value with its plays, share of plays, unique viewers and minutes viewed
// and their changes. Selecting a value (a row or a country on the map)
// filters the whole dashboard by it.

import { report, reportCsv, type BreakdownRow, type Report, type Row } from '../api';
import { countryName } from '../countries';
import { UNKNOWN, valueName, valueText } from '../values';
import { fill, h } from '../dom';
import { formatChange, formatInteger, formatValue } from '../format';
import { loadWorldMap } from '../lazy';
import { BREAKDOWN_PAGE, BREAKDOWN_TOP, DIMENSION_INFO, DIMENSIONS, hasFilters, panelParams, type Dimension, type ViewState } from '../state';
import type { Context, PanelView } from '../pages/video';
import { announce, csvDownloadButton, dataTable, emptyState, esc, Loader, Panel, type TableColumn } from '../ui';

const TAB_LABELS: Record<Dimension, string> = {
  country: 'Countries',
  device: 'Devices',
  os: 'OS',
  browser: 'Browsers',
  referrer_domain: 'Referrers',
  application: 'Applications',
  playback_type: 'Playback types',
};

/** The CSV of every value: one page of the API's CSV, or every page of it
 * joined under one header when there are more values than a page holds. */
async function breakdownCsv(state: ViewState, dimension: Dimension, totalRows: number): Promise<{ name: string; text: string }> {
  const params = panelParams(state);
  const first = await reportCsv(state.video, 'breakdown', params.breakdown(dimension, 1));
  const pages = Math.ceil(totalRows / BREAKDOWN_PAGE);
  if (pages <= 1) return first;
  const rest = await Promise.all(Array.from({ length: pages - 1 }, (_, i) => reportCsv(state.video, 'breakdown', params.breakdown(dimension, i + 2))));
  let text = first.text.endsWith('\n') ? first.text : `${first.text}\n`;
  for (const page of rest) {
    const body = page.text.slice(page.text.indexOf('\n') + 1);
    if (body) text += body.endsWith('\n') ? body : `${body}\n`;
  }
  return { name: first.name, text };
}

/** A breakdown report with what it was asked for. */
interface Loaded {
  dimension: Dimension;
  page: number;
  report: Report;
}

function load(state: ViewState, dimension: Dimension, page: number, signal: AbortSignal): Promise<Loaded> {
  return report(state.video, 'breakdown', panelParams(state).breakdown(dimension, page), signal).then((answer) => ({ dimension, page, report: answer }));
}

export class BreakdownPanel implements PanelView {
  readonly element: HTMLElement;
  private readonly panel = new Panel(
    'breakdown',
    'Breakdown',
    'Who watched, where and how: each value with its plays, share of plays, unique viewers and minutes viewed. Select a value to filter the dashboard by it.',
  );
  private readonly table = new Loader<Loaded>();
  /** The first page, which the map shows whatever page the table is on. */
  private readonly first = new Loader<Loaded>();
  private readonly tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Break down by' });
  private readonly view = h('div', { class: 'breakdown-view', id: 'breakdown-view', role: 'tabpanel' });
  private readonly mapChart = h('div', { class: 'chart chart-map', id: 'breakdown-map' });
  private readonly mapNote = h('p', { class: 'map-note muted' });
  private readonly mapFrame = h('div', { class: 'breakdown-map' }, h('div', { class: 'chart-frame' }, this.mapChart), this.mapNote);
  private readonly tableSlot = h('div', { class: 'breakdown-table' });
  private readonly filterNote = h('div', { class: 'breakdown-filter' });
  private context: Context | null = null;

  constructor() {
    this.element = this.panel.element;
    for (const dimension of DIMENSIONS) {
      this.tabs.append(
        h(
          'button',
          {
            type: 'button',
            role: 'tab',
            class: 'tab',
            id: `breakdown-tab-${dimension}`,
            'data-dimension': dimension,
            'aria-controls': 'breakdown-view',
            onclick: () => this.choose(dimension),
            onkeydown: (event: KeyboardEvent) => this.tabKey(event, dimension),
          },
          TAB_LABELS[dimension],
        ),
      );
    }
    this.panel.actions.append(
      csvDownloadButton('this breakdown', () => {
        const state = this.context!.state;
        return breakdownCsv(state, state.breakdown, this.first.value?.dimension === state.breakdown ? this.first.value.report.total_rows : 0);
      }),
    );
    fill(this.panel.body, this.tabs, this.filterNote, this.view);
  }

  update(context: Context): void {
    this.context = context;
    const state = context.state;
    for (const tab of this.tabs.querySelectorAll<HTMLButtonElement>('[role=tab]')) {
      const selected = tab.dataset.dimension === state.breakdown;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
    }
    this.view.setAttribute('aria-labelledby', `breakdown-tab-${state.breakdown}`);
    const params = panelParams(state);
    const page = this.page();
    const retry = () => {
      fill(this.panel.body, this.tabs, this.filterNote, this.view);
      this.table.forget();
      this.first.forget();
      this.update(context);
    };
    const busy = () => this.panel.loading(true);
    const done = () => {
      if (this.stale()) return;
      this.panel.loading(false);
      this.render();
    };
    this.first.run(params.breakdown(state.breakdown, 1).toString(), (signal) => load(state, state.breakdown, 1, signal), { start: busy, done, fail: (error) => this.panel.error(error, retry) });
    this.table.run(params.breakdown(state.breakdown, page).toString(), (signal) => load(state, state.breakdown, page, signal), { start: busy, done, fail: (error) => this.panel.error(error, retry) });
    if (!this.stale()) this.render();
  }

  redraw(): void {
    if (this.context?.state.breakdown === 'country' && !this.stale()) void this.drawMap();
  }

  /** The page of values the table lists. */
  private page(): number {
    const state = this.context!.state;
    return state.ball ? state.bpage : 1;
  }

  /** Whether the loaded reports are not (yet) the ones the view asks for. */
  private stale(): boolean {
    const state = this.context?.state;
    const first = this.first.value;
    const table = this.table.value;
    if (!state || !first || !table) return true;
    return first.dimension !== state.breakdown || table.dimension !== state.breakdown || table.page !== this.page();
  }

  private choose(dimension: Dimension): void {
    const context = this.context;
    if (!context || context.state.breakdown === dimension) return;
    context.set({ breakdown: dimension, ball: false, bpage: 1 }, { replace: true });
  }

  /** Arrow keys, Home and End move between the tabs (the ARIA tabs pattern). */
  private tabKey(event: KeyboardEvent, dimension: Dimension): void {
    const index = DIMENSIONS.indexOf(dimension);
    const next =
      event.key === 'ArrowRight' ? (index + 1) % DIMENSIONS.length : event.key === 'ArrowLeft' ? (index - 1 + DIMENSIONS.length) % DIMENSIONS.length : event.key === 'Home' ? 0 : event.key === 'End' ? DIMENSIONS.length - 1 : -1;
    if (next < 0) return;
    event.preventDefault();
    this.choose(DIMENSIONS[next]);
    this.tabs.querySelector<HTMLButtonElement>(`[data-dimension="${DIMENSIONS[next]}"]`)?.focus();
  }

  /** Filters the dashboard by one value of the dimension. */
  private select(dimension: Dimension, value: string): void {
    const context = this.context;
    if (!context) return;
    const key = DIMENSION_INFO[dimension].filter;
    const current = context.state.filters[key] ?? [];
    if (current.length === 1 && current[0] === value) return;
    context.set({ filters: { ...context.state.filters, [key]: [value] } });
    announce(`Filtered by ${DIMENSION_INFO[dimension].label}: ${valueText(dimension, value)}`);
  }

  private render(): void {
    const context = this.context;
    if (!context || this.stale()) return;
    const data = this.table.value!.report;
    const first = this.first.value!.report;
    const state = context.state;
    const dimension = state.breakdown;
    const info = DIMENSION_INFO[dimension];
    if (!this.panel.body.contains(this.view)) fill(this.panel.body, this.tabs, this.filterNote, this.view);
    // The dimension whose values are shown (the tab may be ahead of them).
    this.view.dataset.dimension = dimension;

    // The dimension's own filter narrows the list to its values: say so,
    // with the way back to all of them.
    const filtered = state.filters[info.filter] ?? [];
    fill(
      this.filterNote,
      filtered.length
        ? h(
            'p',
            { class: 'notice breakdown-filtered' },
            h('span', null, `Filtered to ${filtered.map((v) => valueText(dimension, v)).join(', ')}: only ${filtered.length === 1 ? 'this value is' : 'these values are'} listed.`),
            h(
              'button',
              {
                type: 'button',
                class: 'btn btn-small',
                id: 'breakdown-unfilter',
                onclick: () => {
                  const filters = { ...state.filters };
                  delete filters[info.filter];
                  context.set({ filters });
                },
              },
              `Show every ${info.label.toLowerCase()}`,
            ),
          )
        : null,
    );

    if (first.total_rows === 0) {
      fill(
        this.view,
        emptyState(
          'No plays in this period',
          hasFilters(state) ? `No viewer matching every filter pressed play, so there is no ${info.label.toLowerCase()} to rank. Remove a filter to see more.` : 'Nobody pressed play in this period. Choose a longer date range.',
        ),
      );
      return;
    }

    const rows = state.ball ? data.rows : data.rows.slice(0, BREAKDOWN_TOP);
    const table = this.tableFor(dimension, data, rows);
    const footer = this.footer(data);
    if (dimension === 'country') {
      fill(this.tableSlot, table, footer);
      fill(this.view, h('div', { class: 'breakdown-country' }, this.mapFrame, this.tableSlot));
      void this.drawMap();
    } else {
      fill(this.view, table, footer);
    }
  }

  private tableFor(dimension: Dimension, data: Report, rows: Row[]): HTMLElement {
    const state = this.context!.state;
    const info = DIMENSION_INFO[dimension];
    const column = (key: string) => data.columns.find((c) => c.key === key);
    const type = (key: string) => column(key)?.type ?? 'number';
    const label = (key: string, fallback: string) => column(key)?.label ?? fallback;
    const filtered = new Set(state.filters[info.filter] ?? []);
    const columns: TableColumn[] = [
      {
        key: 'value',
        label: info.label,
        type: 'text',
        className: 'value-cell',
        render: (row) => {
          const { name, code } = valueName(dimension, String(row.value));
          return [
            h('span', { class: `value-name${row.value === UNKNOWN ? ' muted' : ''}` }, name),
            code && code !== name ? h('code', { class: 'value-code', title: dimension === 'country' ? `ISO 3166-1 code ${code}` : `Value ${code}` }, code) : null,
          ];
        },
      },
      { key: 'plays', label: label('plays', 'Plays'), type: type('plays'), compared: true },
      {
        key: 'share_of_plays',
        label: label('share_of_plays', 'Share of plays'),
        type: type('share_of_plays'),
        className: 'share-cell',
        render: (row) => {
          const share = typeof row.share_of_plays === 'number' ? row.share_of_plays : 0;
          return [
            h('span', { class: 'share-text' }, formatValue(row.share_of_plays, 'ratio')),
            h('span', { class: 'share-bar', 'aria-hidden': 'true' }, h('span', { class: 'share-fill', style: `width: ${Math.max(0, Math.min(100, share * 100)).toFixed(1)}%` })),
          ];
        },
      },
      { key: 'unique_viewers', label: label('unique_viewers', 'Unique Viewers'), type: type('unique_viewers'), compared: true },
      { key: 'minutes_viewed', label: label('minutes_viewed', 'Minutes Viewed'), type: type('minutes_viewed'), compared: true },
    ];
    return h(
      'div',
      { class: 'cards-on-phone breakdown-cards' },
      dataTable({
        caption: `${info.plural} by plays`,
        columns,
        rows,
        comparing: data.comparison !== null,
        open: {
          column: 'value',
          label: (row) => `Filter the dashboard by ${info.label.toLowerCase()} ${valueText(dimension, String(row.value))}`,
          run: (row) => this.select(dimension, String(row.value)),
        },
        selected: (row) => filtered.has(String(row.value)),
        rowId: (row) => String(row.value),
      }),
    );
  }

  /** "Show all" and, past a page of values, the pages. */
  private footer(data: Report): HTMLElement | null {
    const context = this.context!;
    const state = context.state;
    const info = DIMENSION_INFO[state.breakdown];
    const total = data.total_rows;
    if (total <= BREAKDOWN_TOP) {
      return h('p', { class: 'breakdown-count muted' }, `${formatInteger(total)} ${total === 1 ? 'value' : 'values'}`);
    }
    const pages = Math.ceil(total / BREAKDOWN_PAGE);
    return h(
      'div',
      { class: 'pager breakdown-pager' },
      h('span', { class: 'breakdown-count' }, state.ball ? `${pages > 1 ? `Page ${formatInteger(data.page)} of ${formatInteger(pages)} · ` : ''}${formatInteger(total)} values` : `Top ${formatInteger(BREAKDOWN_TOP)} of ${formatInteger(total)} values`),
      state.ball && pages > 1 ? h('button', { type: 'button', class: 'btn btn-small', disabled: data.page <= 1, onclick: () => context.set({ bpage: data.page - 1 }) }, 'Previous') : null,
      state.ball && pages > 1 ? h('button', { type: 'button', class: 'btn btn-small', disabled: data.page >= pages, onclick: () => context.set({ bpage: data.page + 1 }) }, 'Next') : null,
      h(
        'button',
        { type: 'button', class: 'btn btn-small', id: 'breakdown-all', 'aria-expanded': String(state.ball), onclick: () => context.set({ ball: !state.ball, bpage: 1 }, { replace: true }) },
        state.ball ? `Show the top ${formatInteger(BREAKDOWN_TOP)}` : `Show all ${info.plural.toLowerCase()}`,
      ),
    );
  }

  private async drawMap(): Promise<void> {
    const context = this.context;
    const loaded = this.first.value;
    if (!context || !loaded || loaded.dimension !== 'country') return;
    const data = loaded.report;
    const { worldMapChart, onMap } = await loadWorldMap();
    // A newer view may have been asked for while the map loaded.
    if (this.context !== context || this.first.value !== loaded || context.state.breakdown !== 'country' || !this.mapChart.isConnected) return;
    const comparing = data.comparison !== null;
    const byCode = new Map(data.rows.map((row) => [String(row.value).toUpperCase(), row as BreakdownRow]));
    const tooltip = (code: string) => {
      const row = byCode.get(code);
      const title = `<div class="tt-title">${esc(valueText('country', code))}</div>`;
      if (!row) return `<div class="tt" data-country="${esc(code)}">${title}<div class="muted">No plays in this period</div></div>`;
      const line = (key: string, label: string, type: 'integer' | 'number' | 'ratio') => {
        const change = comparing && key !== 'share_of_plays' ? ` <span class="tt-delta">${esc(formatChange(row[`${key}_change`], row[`${key}_previous`]))}</span>` : '';
        return `<div class="tt-row"><span class="tt-name">${esc(label)}</span><b data-key="${key}">${esc(formatValue(row[key], type))}</b>${change}</div>`;
      };
      return `<div class="tt" data-country="${esc(code)}">${title}${line('plays', 'Plays', 'integer')}${line('share_of_plays', 'Share of plays', 'ratio')}${line('unique_viewers', 'Unique Viewers', 'integer')}${line('minutes_viewed', 'Minutes Viewed', 'number')}<div class="tt-hint muted">Select to filter by this country</div></div>`;
    };
    const values = [...byCode.values()].filter((row) => row.value !== UNKNOWN).map((row) => ({ code: row.value.toUpperCase(), value: row.plays }));
    worldMapChart(this.mapChart, {
      values,
      measure: 'Plays',
      format: formatInteger,
      tooltip,
      onClick: (code) => this.select('country', byCode.has(code) ? String(byCode.get(code)!.value) : code),
      ariaLabel: `World map of plays by country: ${values
        .slice(0, 5)
        .map((v) => `${countryName(v.code)} ${formatInteger(v.value)}`)
        .join(', ')}${values.length > 5 ? ` and ${values.length - 5} more` : ''}`,
    });
    this.mapChart.setAttribute('role', 'img');
    this.mapChart.setAttribute('aria-label', `World map of plays by country, ${formatInteger(values.length)} countries`);
    // What the map cannot show: countries too small for its scale, plays
    // without a known country, and values past the first page.
    const offMap = values.filter((v) => !onMap(v.code));
    const unknown = byCode.get(UNKNOWN.toUpperCase());
    const notes: string[] = [];
    if (offMap.length) notes.push(`Too small for this map: ${offMap.map((v) => `${countryName(v.code)} (${formatInteger(v.value)})`).join(', ')}.`);
    if (unknown && unknown.plays > 0) notes.push(`${formatInteger(unknown.plays)} plays from an unknown country.`);
    if (data.total_rows > data.rows.length) notes.push(`The map shows the ${formatInteger(data.rows.length)} countries with the most plays.`);
    this.mapNote.textContent = notes.join(' ');
  }
}

/** The page's breakdowns as files of the ZIP export. */
export function breakdownExports(state: ViewState): { file: string; kind: string; params: URLSearchParams }[] {
  const params = panelParams(state);
  return DIMENSIONS.map((dimension) => ({ file: `breakdown-${dimension.replaceAll('_', '-')}.csv`, kind: 'breakdown', params: params.breakdown(dimension, 1) }));
}
