// Numbers, dates and changes formatted for the reader's locale.

import type { ColumnType } from './api';

export const locale = navigator.language || 'en-US';

const integer = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
const small = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
const large = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 });
const signedPercent = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1, signDisplay: 'exceptZero' });
const compact = new Intl.NumberFormat(locale, { notation: 'compact', maximumFractionDigits: 1 });

export const DASH = '—';

/** A value of a report column, as every table and card shows it. */
export function formatValue(value: unknown, type: ColumnType): string {
  if (value === null || value === undefined || value === '') return DASH;
  if (typeof value !== 'number') return String(value);
  switch (type) {
    case 'integer':
      return integer.format(value);
    case 'number':
      return Math.abs(value) < 10 ? small.format(value) : large.format(value);
    case 'ratio':
      return percent.format(value);
    default:
      return String(value);
  }
}

export function formatInteger(value: number): string {
  return integer.format(value);
}

/** Axis labels: 12K rather than 12,000. */
export function formatCompact(value: number): string {
  return compact.format(value);
}

/**
 * A relative change (0.25 = +25 %): "—" for nothing to compare with and for
 * 0 → 0 (no change to speak of), "new" for something out of 0.
 */
export function formatChange(change: unknown, previous: unknown): string {
  if (previous === 0) return change === 0 || change === undefined ? DASH : 'new';
  if (typeof change === 'number') return signedPercent.format(change);
  return DASH;
}

/** Figures for which more is worse: their rises show as bad news. */
const WORSE_WHEN_UP = new Set(['dropoffs']);

/** Whether a change of `key` is good, bad or neither, by the figure's polarity. */
export function changeTone(key: string, change: unknown): 'good' | 'bad' | 'flat' | 'none' {
  if (typeof change !== 'number') return 'none';
  if (Math.abs(change) <= 0.0005) return 'flat';
  const up = change > 0;
  return up !== WORSE_WHEN_UP.has(key) ? 'good' : 'bad';
}

const dateFormat = new Intl.DateTimeFormat(locale, { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' });

/** A calendar day (YYYY-MM-DD) in the reader's words. */
export function formatDay(day: string): string {
  const date = new Date(`${day}T00:00:00Z`);
  return Number.isNaN(date.getTime()) ? day : dateFormat.format(date);
}

export function formatPeriod(from: string, to: string): string {
  return from === to ? formatDay(from) : `${formatDay(from)} – ${formatDay(to)}`;
}

/** A deletion instant (RFC 3339) as a day. */
export function formatInstantDay(instant: string): string {
  return formatDay(instant.slice(0, 10));
}

/** Milliseconds as m:ss.s */
export function formatMs(ms: number): string {
  const seconds = ms / 1000;
  const minutes = Math.floor(seconds / 60);
  const rest = seconds - minutes * 60;
  const text = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1, minimumIntegerDigits: 2 }).format(rest);
  return `${minutes}:${text}`;
}

export const BEHAVIORS: Record<string, string> = {
  go_to_node: 'Go to node',
  go_to_url: 'Open link',
  pause: 'Pause',
};
