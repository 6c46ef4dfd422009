// The state of the video page lives in its URL (path and query string), so a
// link reproduces the view: range, time zone, comparison, filters, interval,
// chart metric, sort orders, the open node and the open details table.

export const PRESETS: [string, string][] = [
  ['last_7_days', 'Last 7 days'],
  ['last_30_days', 'Last 30 days'],
  ['last_90_days', 'Last 90 days'],
  ['last_12_months', 'Last 12 months'],
  ['this_week', 'This week'],
  ['this_month', 'This month'],
  ['this_quarter', 'This quarter'],
  ['this_year', 'This year'],
  ['previous_month', 'Previous month'],
  ['custom', 'Custom range…'],
];

export const COMPARES: [string, string][] = [
  ['none', 'No comparison'],
  ['previous_period', 'Previous period'],
  ['previous_year', 'Same period last year'],
  ['custom', 'Custom start…'],
];

export const INTERVALS = ['hour', 'day', 'week', 'month'] as const;
export type Interval = (typeof INTERVALS)[number];

export const METRICS: [string, string][] = [
  ['impressions', 'Player Impressions'],
  ['plays', 'Plays'],
  ['unique_viewers', 'Unique Viewers'],
  ['minutes_viewed', 'Minutes Viewed'],
  ['avg_view_time', 'Avg. View Time'],
  ['path_completion_rate', 'Path Completion'],
];

export interface FilterDef {
  key: string;
  label: string;
  /** Values the API takes; when set, the filter is a choice among them. */
  options?: string[];
  /** Values to suggest while typing. */
  suggestions?: string[];
  placeholder?: string;
}

export const FILTERS: FilterDef[] = [
  { key: 'countries', label: 'Country', placeholder: 'Name or ISO code, e.g. FR' },
  { key: 'devices', label: 'Device', suggestions: ['Desktop', 'Smartphone', 'Tablet', 'Mobile phone', 'Smart TV', 'Game console', 'Other', 'unknown'] },
  { key: 'os', label: 'OS', suggestions: ['Windows', 'Mac OSX', 'iOS', 'Android', 'Linux', 'ChromeOS', 'unknown'] },
  { key: 'browsers', label: 'Browser', suggestions: ['Chrome', 'Safari', 'Firefox', 'Edge', 'Opera', 'Samsung Internet', 'Webview', 'unknown'] },
  { key: 'referrer_domains', label: 'Domain', placeholder: 'e.g. example.com' },
  { key: 'applications', label: 'Application', placeholder: 'e.g. web' },
  { key: 'playback_types', label: 'Playback type', options: ['vod', 'live', 'dvr'] },
  { key: 'user_ids', label: 'User', placeholder: 'user id' },
  { key: 'nodes', label: 'Reached node' },
  { key: 'hotspots', label: 'Clicked hotspot' },
];

/** The dimensions a breakdown ranks, each with the filter its values go to. */
export const DIMENSIONS = ['country', 'device', 'os', 'browser', 'referrer_domain', 'application', 'playback_type'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export const DIMENSION_INFO: Record<Dimension, { filter: string; label: string; plural: string }> = {
  country: { filter: 'countries', label: 'Country', plural: 'Countries' },
  device: { filter: 'devices', label: 'Device', plural: 'Devices' },
  os: { filter: 'os', label: 'OS', plural: 'Operating systems' },
  browser: { filter: 'browsers', label: 'Browser', plural: 'Browsers' },
  referrer_domain: { filter: 'referrer_domains', label: 'Referrer domain', plural: 'Referrer domains' },
  application: { filter: 'applications', label: 'Application', plural: 'Applications' },
  playback_type: { filter: 'playback_types', label: 'Playback type', plural: 'Playback types' },
};

/** The breakdown dimension whose values a filter takes, if any. */
export function filterDimension(filterKey: string): Dimension | undefined {
  return DIMENSIONS.find((d) => DIMENSION_INFO[d].filter === filterKey);
}

/** Rows of a breakdown table before "Show all"; a page of "Show all". */
export const BREAKDOWN_TOP = 10;
export const BREAKDOWN_PAGE = 100;

export interface ViewState {
  video: string;
  range: string;
  from: string;
  to: string;
  tz: string;
  compare: string;
  interval: Interval;
  /** Whether the reader chose the interval; otherwise it follows the range. */
  intervalChosen: boolean;
  metric: string;
  filters: Record<string, string[]>;
  viewer: '' | 'known' | 'anonymous';
  node: string;
  sort: string;
  order: 'asc' | 'desc';
  details: '' | 'date' | 'viewer';
  vsort: string;
  vorder: 'asc' | 'desc';
  vpage: number;
  flow: 'all' | 'hotspot' | 'automatic';
  /** The breakdown shown, whether all its values are listed, and their page. */
  breakdown: Dimension;
  ball: boolean;
  bpage: number;
}

export function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

const DEFAULTS = {
  range: 'last_30_days',
  compare: 'previous_period',
  metric: 'plays',
  sort: 'plays',
  order: 'desc' as const,
  vsort: 'minutes_viewed',
  vorder: 'desc' as const,
  flow: 'all' as const,
  breakdown: 'country' as Dimension,
};

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Days a preset spans at most. */
const PRESET_DAYS: Record<string, number> = {
  last_7_days: 7,
  last_30_days: 30,
  last_90_days: 90,
  last_12_months: 366,
  this_week: 7,
  this_month: 31,
  this_quarter: 92,
  this_year: 366,
  previous_month: 31,
};

/**
 * The interval a range reads best by: hours up to 2 days, days up to about
 * 3 months, weeks up to a year, months beyond.
 */
export function autoInterval(range: string, from: string, to: string): Interval {
  const days =
    range === 'custom' && DAY.test(from) && DAY.test(to)
      ? Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1
      : (PRESET_DAYS[range] ?? 30);
  if (days <= 2) return 'hour';
  if (days <= 92) return 'day';
  if (days <= 366) return 'week';
  return 'month';
}

export function parseState(video: string, search: string): ViewState {
  const q = new URLSearchParams(search);
  const get = (name: string) => q.get(name) ?? '';
  const from = get('from');
  const to = get('to');
  const custom = DAY.test(from) && DAY.test(to);
  const range = custom ? 'custom' : PRESETS.some(([k]) => k === get('range') && k !== 'custom') ? get('range') : DEFAULTS.range;
  const compareText = get('compare');
  const compare = compareText === '' ? DEFAULTS.compare : ['none', 'previous_period', 'previous_year'].includes(compareText) || DAY.test(compareText) ? compareText : DEFAULTS.compare;
  const intervalChosen = (INTERVALS as readonly string[]).includes(get('interval'));
  const interval = intervalChosen ? (get('interval') as Interval) : autoInterval(range, custom ? from : '', custom ? to : '');
  const filters: Record<string, string[]> = {};
  for (const filter of FILTERS) {
    const values = q
      .getAll(filter.key)
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter(Boolean);
    if (values.length) filters[filter.key] = [...new Set(values)];
  }
  const viewer = get('viewer');
  const details = get('details');
  const flow = get('flow');
  const page = Number.parseInt(get('vpage'), 10);
  const bpage = Number.parseInt(get('bpage'), 10);
  const breakdown = DIMENSIONS.find((d) => d === get('breakdown')) ?? DEFAULTS.breakdown;
  return {
    video,
    range,
    from: custom ? from : '',
    to: custom ? to : '',
    tz: get('tz') || browserZone(),
    compare,
    interval,
    intervalChosen,
    metric: METRICS.some(([k]) => k === get('metric')) ? get('metric') : DEFAULTS.metric,
    filters,
    viewer: viewer === 'known' || viewer === 'anonymous' ? viewer : '',
    node: get('node'),
    sort: get('sort') || DEFAULTS.sort,
    order: get('order') === 'asc' ? 'asc' : 'desc',
    details: details === 'date' || details === 'viewer' ? details : '',
    vsort: get('vsort') || DEFAULTS.vsort,
    vorder: get('vorder') === 'asc' ? 'asc' : 'desc',
    vpage: Number.isFinite(page) && page > 0 ? page : 1,
    flow: flow === 'hotspot' || flow === 'automatic' ? flow : DEFAULTS.flow,
    breakdown,
    ball: get('ball') === '1',
    bpage: Number.isFinite(bpage) && bpage > 0 ? bpage : 1,
  };
}

/** The query string of a state: the period, zone and comparison always (so
 * a shared link means the same days everywhere), the rest when not default. */
export function stateQuery(state: ViewState): string {
  const q = new URLSearchParams();
  if (state.range === 'custom') {
    q.set('from', state.from);
    q.set('to', state.to);
  } else {
    q.set('range', state.range);
  }
  q.set('tz', state.tz);
  q.set('compare', state.compare);
  if (state.intervalChosen) q.set('interval', state.interval);
  for (const filter of FILTERS) {
    const values = state.filters[filter.key];
    if (values?.length) q.set(filter.key, values.join(','));
  }
  if (state.viewer) q.set('viewer', state.viewer);
  if (state.metric !== DEFAULTS.metric) q.set('metric', state.metric);
  if (state.sort !== DEFAULTS.sort || state.order !== DEFAULTS.order) {
    q.set('sort', state.sort);
    q.set('order', state.order);
  }
  if (state.details) q.set('details', state.details);
  if (state.vsort !== DEFAULTS.vsort || state.vorder !== DEFAULTS.vorder) {
    q.set('vsort', state.vsort);
    q.set('vorder', state.vorder);
  }
  if (state.vpage !== 1) q.set('vpage', String(state.vpage));
  if (state.flow !== DEFAULTS.flow) q.set('flow', state.flow);
  if (state.breakdown !== DEFAULTS.breakdown) q.set('breakdown', state.breakdown);
  if (state.ball) q.set('ball', '1');
  if (state.ball && state.bpage !== 1) q.set('bpage', String(state.bpage));
  if (state.node) q.set('node', state.node);
  return q.toString();
}

export function videoUrl(state: ViewState): string {
  return `/videos/${encodeURIComponent(state.video)}?${stateQuery(state)}`;
}

export function hasFilters(state: ViewState): boolean {
  return state.viewer !== '' || Object.values(state.filters).some((v) => v.length > 0);
}

/** The parameters every report of the page shares: period, zone,
 * comparison, filters. */
export function commonParams(state: ViewState): URLSearchParams {
  const q = new URLSearchParams();
  if (state.range === 'custom') {
    q.set('from', state.from);
    q.set('to', state.to);
  } else {
    q.set('range', state.range);
  }
  q.set('tz', state.tz);
  if (state.compare !== 'none') q.set('compare', state.compare);
  for (const filter of FILTERS) {
    const values = state.filters[filter.key];
    if (values?.length) q.set(filter.key, values.join(','));
  }
  if (state.viewer) q.set('viewer', state.viewer);
  return q;
}

export function withParams(base: URLSearchParams, extra: Record<string, string | number>): URLSearchParams {
  const q = new URLSearchParams(base);
  for (const [k, v] of Object.entries(extra)) q.set(k, String(v));
  return q;
}

/** The request of each panel; a panel refetches only when its own changes. */
export function panelParams(state: ViewState) {
  const common = commonParams(state);
  return {
    totals: common,
    // Every bucket of the period: a chart is not paged.
    timeseries: withParams(common, { interval: state.interval, page_size: 10000 }),
    nodes: withParams(common, { sort: state.sort, order: state.order, page_size: 10000 }),
    // The Sankey and the graph show this period only: no comparison to compute.
    transitions: withParams(commonParams({ ...state, compare: 'none' }), { page_size: 10000 }),
    viewers: withParams(common, { sort: state.vsort, order: state.vorder, page: state.vpage, page_size: 50 }),
    node: (node: string) => withParams(common, { node }),
    curve: (node: string) => withParams(common, { node }),
    // A heat map shows this period's clicks only: no comparison to compute.
    heatmap: (hotspot: string) => withParams(commonParams({ ...state, compare: 'none' }), { hotspot }),
    // The first page of 100 values: the map needs them all, the table shows
    // the top 10 until "Show all".
    breakdown: (dimension: Dimension, page = 1) => withParams(common, { dimension, page, page_size: BREAKDOWN_PAGE }),
    /** The values present in the period under the other filters: every
     * filter but the dimension's own, and no comparison. */
    values: (dimension: Dimension) => {
      const q = commonParams({ ...state, compare: 'none' });
      q.delete(DIMENSION_INFO[dimension].filter);
      return q;
    },
  };
}
