// The filter bar: active filters as removable chips, a form to add one, and
// the note on playback types.

import { report } from '../api';
import { fill, h, icon, ICONS } from '../dom';
import { locale } from '../format';
import { commonParams, FILTERS, hasFilters, withParams } from '../state';
import type { Context, PanelView } from '../pages/video';

const COUNTRY_CODES =
  'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW'.split(' ');

let regionNames: Intl.DisplayNames | null = null;
function countryName(code: string): string {
  try {
    regionNames ??= new Intl.DisplayNames([locale], { type: 'region' });
    const name = regionNames.of(code.toUpperCase());
    return name && name !== code ? name : code;
  } catch {
    return code;
  }
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
  private users: string[] | null = null;

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
    if (key === 'countries') return value === 'unknown' ? 'unknown' : `${countryName(value)} (${value.toUpperCase()})`;
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
    if (key === 'viewer') {
      fill(this.valueSlot, h('select', { id: 'filter-value', 'aria-label': 'Viewer kind' }, Object.entries(VIEWER_LABELS).map(([v, l]) => h('option', { value: v }, l))));
      return;
    }
    const filter = FILTERS.find((f) => f.key === key)!;
    if (filter.options) {
      fill(this.valueSlot, h('select', { id: 'filter-value', 'aria-label': filter.label }, filter.options.map((v) => h('option', { value: v }, v))));
      return;
    }
    let options: [string, string][] = (filter.suggestions ?? []).map((v) => [v, v]);
    if (key === 'countries') options = COUNTRY_CODES.map((c) => [c, countryName(c)]);
    if (key === 'nodes' && context?.video) options = context.video.graph.nodes.map((n) => [n.id, n.name]);
    if (key === 'hotspots' && context?.video) options = context.video.graph.nodes.flatMap((n) => n.hotspots.map((x): [string, string] => [x.id, `${x.label} (on ${n.name})`]));
    const list = h('datalist', { id: 'filter-suggestions' }, options.map(([value, label]) => h('option', { value }, label)));
    const input = h('input', {
      id: 'filter-value',
      type: 'text',
      required: true,
      autocomplete: 'off',
      list: 'filter-suggestions',
      'aria-label': filter.label,
      placeholder: filter.placeholder ?? `${filter.label}…`,
    });
    fill(this.valueSlot, input, list);
    if (key === 'user_ids') void this.suggestUsers(list);
  }

  /** Known viewers of the period, most active first. */
  private async suggestUsers(list: HTMLDataListElement): Promise<void> {
    const context = this.context;
    if (!context) return;
    if (!this.users) {
      try {
        const viewers = await report(context.state.video, 'viewers', withParams(commonParams({ ...context.state, compare: 'none' }), { viewer: 'known', sort: 'plays', page_size: 200 }));
        this.users = viewers.rows.map((r) => String(r.user_id));
      } catch {
        this.users = [];
      }
    }
    fill(list, this.users.map((u) => h('option', { value: u })));
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
      const values = raw
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean)
        .map((v) => (key === 'countries' && v.toLowerCase() !== 'unknown' ? v.toUpperCase() : v));
      const current = context.state.filters[key] ?? [];
      context.set({ filters: { ...context.state.filters, [key]: [...new Set([...current, ...values])] } });
    }
    this.form.hidden = true;
    this.toggle.setAttribute('aria-expanded', 'false');
    this.toggle.focus();
  }
}
