// The pathlens HTTP API, authenticated with the admin token kept in
// localStorage. Errors carry the API's {code, message}.

const TOKEN_KEY = 'pathlens.token';

export type ColumnType = 'text' | 'integer' | 'number' | 'ratio';

export interface Column {
  key: string;
  label: string;
  type: ColumnType;
}

export interface Period {
  from: string;
  to: string;
  days: number;
}

export type Row = Record<string, string | number | boolean | null>;

export interface Report {
  report: string;
  video_id: string;
  video_name: string;
  tz: string;
  period: Period;
  comparison: Period | null;
  columns: Column[];
  rows: Row[];
  total_rows: number;
  page: number;
  page_size: number;
  // Kind-specific: the node of a drill-down, the hotspot of a heat map.
  details: Record<string, any> | null;
  notes: string[];
}

/** A breakdown report's row (`GET …/reports/breakdown?dimension=`): one
 * value of the dimension, ranked by plays; "unknown" stands for events
 * without a value. With `compare=`, each figure has `<key>_previous` and
 * `<key>_change` as in the other reports. */
export interface BreakdownRow extends Row {
  value: string;
  plays: number;
  /** Of the period's plays under the same filters; null when there were none. */
  share_of_plays: number | null;
  unique_viewers: number;
  minutes_viewed: number;
}

/** `GET …/values/{dimension}`: the values present in a period (under the
 * other filters), ranked by plays then events, for filter suggestions. */
export interface DimensionValues {
  dimension: string;
  /** The filter parameter its values go to (`countries` for `country`). */
  filter: string;
  period: Period;
  values: { value: string; plays: number; events: number }[];
  total: number;
}

export interface VideoSummary {
  id: string;
  name: string;
  owner: string;
  nodes: number;
  updated_at: string;
  plays_30d: number;
}

export type Behavior =
  | { type: 'go_to_node'; node_id: string }
  | { type: 'go_to_url'; url: string }
  | { type: 'pause' };

export interface Hotspot {
  id: string;
  label: string;
  start_ms: number;
  end_ms: number;
  behavior: Behavior;
  deleted_at?: string;
}

export interface GraphNode {
  id: string;
  name: string;
  entry_id: string;
  duration_ms: number;
  hotspots: Hotspot[];
  deleted_at?: string;
}

export interface Video {
  id: string;
  name: string;
  owner: string;
  created_at: string;
  updated_at: string;
  start_node: string;
  end_nodes: string[];
  levels: Record<string, number>;
  graph: { id: string; name: string; owner: string; start_node: string; nodes: GraphNode[] };
}

export interface Me {
  id: string;
  partner_id: number;
  kind: 'admin' | 'write';
  name: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function token(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(value: string | null): void {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

/** Fired when the API answers 401: the token is unknown or revoked. */
export const UNAUTHORIZED_EVENT = 'pathlens:unauthorized';

async function request(path: string, params: URLSearchParams | undefined, signal: AbortSignal | undefined, bearer?: string): Promise<Response> {
  const query = params && [...params].length > 0 ? `?${params}` : '';
  const auth = bearer ?? token();
  let response: Response;
  try {
    response = await fetch(`${path}${query}`, {
      headers: auth ? { Authorization: `Bearer ${auth}` } : {},
      signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network', 'The pathlens server did not answer. Is it running?');
  }
  if (!response.ok) {
    let code = 'http_' + response.status;
    let message = `The server answered ${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && typeof body.message === 'string') {
        code = body.code ?? code;
        message = body.message;
      }
    } catch {
      // Not JSON: keep the status line.
    }
    if (response.status === 401 && bearer === undefined) {
      window.dispatchEvent(new CustomEvent(UNAUTHORIZED_EVENT, { detail: message }));
    }
    throw new ApiError(response.status, code, message);
  }
  return response;
}

export async function getJson<T>(path: string, params?: URLSearchParams, signal?: AbortSignal): Promise<T> {
  const response = await request(path, params, signal);
  return (await response.json()) as T;
}

/** Checks a token before keeping it. */
export async function whoIs(candidate: string): Promise<Me> {
  const response = await request('/api/v1/me', undefined, undefined, candidate);
  return (await response.json()) as Me;
}

export function reportPath(video: string, kind: string): string {
  return `/api/v1/videos/${encodeURIComponent(video)}/reports/${kind}`;
}

// Panels that need the same report at the same time share one request.
const inflight = new Map<string, Promise<Report>>();

export function report(video: string, kind: string, params: URLSearchParams, signal?: AbortSignal): Promise<Report> {
  const url = `${reportPath(video, kind)}?${params}`;
  let shared = inflight.get(url);
  if (!shared) {
    shared = getJson<Report>(reportPath(video, kind), params);
    inflight.set(url, shared);
    const done = () => inflight.delete(url);
    shared.then(done, done);
  }
  if (!signal) return shared;
  return new Promise<Report>((resolve, reject) => {
    const abort = () => reject(new DOMException('aborted', 'AbortError'));
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    shared.then(resolve, reject);
  });
}

export function valuesPath(video: string, dimension: string): string {
  return `/api/v1/videos/${encodeURIComponent(video)}/values/${dimension}`;
}

/** The values of a dimension present in a period, most played first. */
export function dimensionValues(video: string, dimension: string, params: URLSearchParams, signal?: AbortSignal): Promise<DimensionValues> {
  return getJson<DimensionValues>(valuesPath(video, dimension), params, signal);
}

/** A report as the API's CSV, byte for byte, with the server's file name. */
export async function reportCsv(video: string, kind: string, params: URLSearchParams): Promise<{ name: string; text: string }> {
  const csvParams = new URLSearchParams(params);
  csvParams.set('format', 'csv');
  const response = await request(reportPath(video, kind), csvParams, undefined);
  const disposition = response.headers.get('content-disposition') ?? '';
  const match = /filename="([^"]+)"/.exec(disposition);
  return { name: match ? match[1] : `${video}-${kind}.csv`, text: await response.text() };
}
