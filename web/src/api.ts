// The pathlens HTTP API, authenticated with the admin token kept in
// localStorage. Errors carry the API's {code, message}.
//
// The shapes of its answers come from the OpenAPI document the server
// serves (crates/pathlens-server/openapi.json): `npm run build` generates
// src/generated/openapi.ts from it (openapi-typescript) before type-checking,
// so an answer the dashboard reads differently from the document fails the
// build. Only what the document leaves open is narrowed here: a report's
// rows (their columns depend on the kind) and its kind-specific details.

import type { components, paths } from './generated/openapi';

type Schemas = components['schemas'];

/** The JSON body of a route's 200 answer, as the document describes it. */
type Answer<P extends keyof paths, M extends 'get' | 'post'> = paths[P][M] extends {
  responses: { 200: { content: { 'application/json': infer T } } };
}
  ? T
  : never;

const TOKEN_KEY = 'pathlens.token';

export type Column = Schemas['Report']['columns'][number];

export type ColumnType = Column['type'];

export type Period = Schemas['Report']['period'];

export type Row = Record<string, string | number | boolean | null>;

export type Report = Omit<Schemas['Report'], 'rows' | 'details' | 'comparison'> & {
  comparison: Period | null;
  rows: Row[];
  // Kind-specific: the node of a drill-down, the hotspot of a heat map.
  details: Record<string, any> | null;
};

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
 * other filters), ranked by plays then events, for filter suggestions;
 * `filter` names the filter parameter its values go to (`countries` for
 * `country`). */
export type DimensionValues = Schemas['DimensionValues'];

/** The video list: each video with its plays of the last 30 local days. */
export type VideoList = Answer<'/api/v1/videos', 'get'>;

export type VideoSummary = VideoList['videos'][number];

/** A video as `GET /api/v1/videos/{video}` answers it, its graph included. */
export type Video = Schemas['Video'];

export type Me = Pick<Schemas['Key'], 'id' | 'partner_id' | 'kind' | 'name'>;

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
