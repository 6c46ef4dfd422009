// How the values of the breakdown dimensions read: a country's name beside
// its code, a playback type in words, "unknown" (events without a value).

import { countryName } from './countries';
import type { Dimension } from './state';

export const UNKNOWN = 'unknown';

const PLAYBACK_NAMES: Record<string, string> = { vod: 'On demand', live: 'Live', dvr: 'Live with rewind' };

/** What a value is called, and the code kept beside it (a country's ISO
 * code, a playback type's API value, "unknown") when it differs. */
export function valueName(dimension: Dimension, value: string): { name: string; code: string | null } {
  if (value === UNKNOWN) return { name: dimension === 'referrer_domain' ? 'No referrer' : 'Unknown', code: UNKNOWN };
  if (dimension === 'country') {
    const code = value.toUpperCase();
    return { name: countryName(code), code };
  }
  if (dimension === 'playback_type') return { name: PLAYBACK_NAMES[value] ?? value, code: value };
  return { name: value, code: null };
}

/** "France (FR)", as chips and tooltips say it; "Unknown" for unknown. */
export function valueText(dimension: Dimension, value: string): string {
  const { name, code } = valueName(dimension, value);
  return code && code !== name && code !== UNKNOWN ? `${name} (${code})` : name;
}
