// The filter bar: active filters as removable chips, a form to add one, and
// the note on playback types. The value field suggests the values present
// in the period (under the other filters), most played first.

import { dimensionValues, report, type DimensionValues } from '../api';
import { Combobox, type Suggestion } from '../combobox';
import { fill, h, icon, ICONS } from '../dom';
import { COUNTRY_CODES, countryName } from '../countries';
import { formatInteger } from '../format';
import { commonParams, FILTERS, filterDimension, hasFilters, panelParams, withParams, type Dimension, type FilterDef } from '../state';
import { UNKNOWN, valueName, valueText } from '../values';
import type { Context, PanelView } from '../pages/video';

/** Values asked of the server for suggestions. */
const SUGGESTED = 100;

/** A country as the API takes it: its code in capitals, from its code or
 * its name in the reader's language; "unknown" as it is. */
function countryCode(text: string): string {
  if (text.toLowerCase() === UNKNOWN) return UNKNOWN;
  if (/^[a-z]{2}$/i.test(text)) return text.toUpperCase();
  const named = COUNTRY_CODES.find((code) => countryName(code).toLowerCase() === text.toLowerCase());
  return named ?? text.toUpperCase();
}

const VIEWER_LABELS: Record<string, string> = { known: 'Known viewers', anonymous: 'Anonymous viewers' };

export class FilterBar implements PanelView {
  readonly element: HTMLElement;
  private context: Context | null = null;
  private readonly chips = h('ul', { class: 'chips', 'aria-label': 'Active filters' });
  private readonly toggle: HTMLButtonElement;
  private readonly form: HTMLFormElement;
  private readonly dimension = h('select', { id: 'filter-dimension', 'aria-label': 'Filter by' });
  private readonly valueSlot = h('span', { class: 'filter-value' });
  private readonly clear: HTMLButtonElement;
  private readonly noteText = h('span');
  private readonly note = h('p', { class: 'note', id: 'playback-note' }, icon(ICONS.info), this.noteText);
  /** Answers for suggestions, by request: the period, zone and filters. */
  private readonly answers = new Map<string, Promise<unknown>>();
  private combo: Combobox | null = null;

  constructor() {
    for (const filter of FILTERS) this.dimension.append(h('option', { value: filter.key }, filter.label));
    this.dimension.append(h('option', { value: 'viewer' }, 'Viewer kind'));
    this.dimension.addEventListener('change', () => this.showValueInput());
    this.toggle = h(
      'button',
      { type: 'button', class: 'btn btn-small', id: 'add-filter', 'aria-expanded': 'false', 'aria-controls': 'filter-form', onclick: () => this.open(this.form.hidden) },
      icon(ICONS.plus),
      'Add filter',
    );
    this.form = h(
      'form',
      {
        id: 'filter-form',
        class: 'filter-form',
        hidden: true,
        onsubmit: (event: SubmitEvent) => {
          event.preventDefault();
          this.add();
        },
        onkeydown: (event: KeyboardEvent) => {
          if (event.key === 'Escape') {
            event.preventDefault();
            this.open(false);
          }
        },
      },
      this.dimension,
      this.valueSlot,
      h('button', { type: 'submit', class: 'btn btn-small btn-primary' }, 'Apply'),
      h('button', { type: 'button', class: 'btn btn-small btn-ghost', onclick: () => this.open(false) }, 'Cancel'),
    );
    this.clear = h('button', { type: 'button', class: 'btn btn-small btn-ghost', id: 'clear-filters', onclick: () => this.context?.set({ filters: {}, viewer: '' }) }, 'Clear all');
    this.noteText.textContent = 'pathlens counts every playback type (vod, live, dvr) unless the playback-type filter narrows it; Kaltura counts only vod.';
    this.element = h(
      'section',
      { class: 'filterbar', 'aria-label': 'Filters' },
      h('div', { class: 'filter-row' }, h('span', { class: 'filter-title' }, 'Filters'), this.chips, this.toggle, this.clear),
      this.form,
      this.note,
    );
  }

  update(context: Context): void {
    this.context = context;
    const state = context.state;
    const chips: HTMLElement[] = [];
    for (const filter of FILTERS) {
      for (const value of state.filters[filter.key] ?? []) {
        chips.push(this.chip(filter.label, this.describe(filter.key, value), () => {
          const rest = (state.filters[filter.key] ?? []).filter((v) => v !== value);
          const filters = { ...state.filters, [filter.key]: rest };
          if (rest.length === 0) delete filters[filter.key];
          context.set({ filters });
        }));
      }
    }
    if (state.viewer) chips.push(this.chip('Viewer', VIEWER_LABELS[state.viewer], () => context.set({ viewer: '' })));
    fill(this.chips, chips.length ? chips : h('li', { class: 'muted chip-none' }, 'None: every viewer, country, device and playback type'));
    this.clear.hidden = !hasFilters(state);
  }

  /** The API's note, when a report has carried it. */
  setNote(text: string): void {
    this.noteText.textContent = text;
  }

  private chip(label: string, value: string, remove: () => void): HTMLElement {
    return h(
      'li',
      { class: 'chip' },
      h('span', { class: 'chip-label' }, `${label}:`),
      h('span', { class: 'chip-value' }, value),
      h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove filter ${label} ${value}`, onclick: remove }, icon(ICONS.close)),
    );
  }

  private describe(key: string, value: string): string {
    const dimension = filterDimension(key);
    if (dimension) return valueText(dimension, value);
    if (key === 'nodes') return this.context?.nodeName(value) ?? value;
    if (key === 'hotspots') return this.context?.hotspotLabel(value) ?? value;
    return value;
  }

  private open(show: boolean): void {
    this.form.hidden = !show;
    this.toggle.setAttribute('aria-expanded', String(show));
    if (show) {
      this.showValueInput();
      this.dimension.focus();
    } else {
      this.toggle.focus();
    }
  }

  private showValueInput(): void {
    const key = this.dimension.value;
    const context = this.context;
    this.combo = null;
    if (key === 'viewer') {
      fill(this.valueSlot, h('select', { id: 'filter-value', 'aria-label': 'Viewer kind' }, Object.entries(VIEWER_LABELS).map(([v, l]) => h('option', { value: v }, l))));
      return;
    }
    const filter = FILTERS.find((f) => f.key === key)!;
    const dimension = filterDimension(key);
    if (filter.options) {
      const select = h('select', { id: 'filter-value', 'aria-label': filter.label }, filter.options.map((v) => h('option', { value: v }, dimension ? valueText(dimension, v) : v)));
      fill(this.valueSlot, select);
      if (dimension) void this.countOptions(select, dimension);
      return;
    }
    const combo = new Combobox({ id: 'filter-value', label: filter.label, placeholder: filter.placeholder ?? `${filter.label}…`, listId: 'filter-suggestions' });
    this.combo = combo;
    fill(this.valueSlot, combo.element);
    if (dimension) {
      void this.suggestValues(combo, filter, dimension);
    } else if (key === 'user_ids') {
      void this.suggestUsers(combo);
    } else if (key === 'nodes' && context?.video) {
      combo.setOptions(context.video.graph.nodes.map((n) => ({ value: n.id, label: n.name || n.id })));
    } else if (key === 'hotspots' && context?.video) {
      combo.setOptions(context.video.graph.nodes.flatMap((n) => (n.hotspots ?? []).map((x) => ({ value: x.id, label: `${x.label || x.id} (on ${n.name || n.id})` }))));
    }
  }

  /** One answer per request while the page lives (a new period or filter
   * is a new request). */
  private answer<T>(key: string, fetch: () => Promise<T>): Promise<T> {
    let answer = this.answers.get(key) as Promise<T> | undefined;
    if (!answer) {
      answer = fetch();
      this.answers.set(key, answer);
      // A failed answer is asked again next time.
      answer.catch(() => this.answers.delete(key));
    }
    return answer;
  }

  private values(dimension: Dimension): Promise<DimensionValues> {
    const context = this.context!;
    const params = withParams(panelParams(context.state).values(dimension), { limit: SUGGESTED });
    return this.answer(`values ${context.state.video} ${dimension} ${params}`, () => dimensionValues(context.state.video, dimension, params));
  }

  /** The dimension's values present in the period, with their plays. */
  private async suggestValues(combo: Combobox, filter: FilterDef, dimension: Dimension): Promise<void> {
    const context = this.context;
    if (!context) return;
    const chosen = new Set(context.state.filters[filter.key] ?? []);
    combo.setOptions([], 'Loading the values of this period…');
    let answer: DimensionValues;
    try {
      answer = await this.values(dimension);
    } catch {
      // No answer (an older server, a failure): the usual values instead.
      const fallback = dimension === 'country' ? COUNTRY_CODES : (filter.suggestions ?? []);
      combo.setOptions(fallback.filter((v) => !chosen.has(v)).map((value) => this.suggestion(dimension, value)));
      return;
    }
    const options = answer.values
      .filter((v) => !chosen.has(v.value))
      .map((v) => this.suggestion(dimension, v.value, v.plays > 0 ? `${formatInteger(v.plays)} ${v.plays === 1 ? 'play' : 'plays'}` : 'no plays'));
    const heading =
      answer.total === 0
        ? 'Nothing in this period under the other filters'
        : answer.total > answer.values.length
          ? `The ${formatInteger(answer.values.length)} most played of ${formatInteger(answer.total)} in this period`
          : `${formatInteger(answer.total)} present in this period`;
    combo.setOptions(options, heading);
  }

  private suggestion(dimension: Dimension, value: string, detail?: string): Suggestion {
    const { name } = valueName(dimension, value);
    return { value, label: name !== value ? name : undefined, detail };
  }

  /** The plays of each choice of a fixed list (playback types). */
  private async countOptions(select: HTMLSelectElement, dimension: Dimension): Promise<void> {
    let answer: DimensionValues;
    try {
      answer = await this.values(dimension);
    } catch {
      return;
    }
    const plays = new Map(answer.values.map((v) => [v.value, v.plays]));
    for (const option of select.options) {
      const count = plays.get(option.value) ?? 0;
      option.textContent = `${valueText(dimension, option.value)} · ${count > 0 ? `${formatInteger(count)} ${count === 1 ? 'play' : 'plays'}` : 'no plays'}`;
    }
  }

  /** Known viewers of the period, most active first. */
  private async suggestUsers(combo: Combobox): Promise<void> {
    const context = this.context;
    if (!context) return;
    const params = withParams(commonParams({ ...context.state, compare: 'none' }), { viewer: 'known', sort: 'plays', page_size: 200 });
    try {
      const viewers = await this.answer(`viewers ${context.state.video} ${params}`, () => report(context.state.video, 'viewers', params));
      combo.setOptions(
        viewers.rows.map((r) => ({ value: String(r.user_id), detail: typeof r.plays === 'number' ? `${formatInteger(r.plays)} ${r.plays === 1 ? 'play' : 'plays'}` : undefined })),
        viewers.total_rows > viewers.rows.length ? `The ${formatInteger(viewers.rows.length)} most active of ${formatInteger(viewers.total_rows)} known viewers` : '',
      );
    } catch {
      combo.setOptions([]);
    }
  }

  private add(): void {
    const context = this.context;
    const input = this.valueSlot.querySelector<HTMLInputElement | HTMLSelectElement>('#filter-value');
    if (!context || !input) return;
    const key = this.dimension.value;
    const raw = input.value.trim();
    if (!raw) return;
    if (key === 'viewer') {
      context.set({ viewer: raw as 'known' | 'anonymous' });
    } else {
      const combo = this.combo;
      const values = raw
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean)
        // A suggestion's name typed in full stands for its value.
        .map((v) => combo?.resolve(v) ?? v)
        .map((v) => (key === 'countries' ? countryCode(v) : v));
      const current = context.state.filters[key] ?? [];
      context.set({ filters: { ...context.state.filters, [key]: [...new Set([...current, ...values])] } });
    }
    this.form.hidden = true;
    this.toggle.setAttribute('aria-expanded', 'false');
    this.toggle.focus();
  }
}
