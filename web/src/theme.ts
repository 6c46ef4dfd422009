// Light and dark themes: the system's choice unless the reader picks one.

const KEY = 'pathlens.theme';
export const THEME_EVENT = 'pathlens:theme';

const media = window.matchMedia('(prefers-color-scheme: dark)');

export function currentTheme(): 'light' | 'dark' {
  const chosen = document.documentElement.dataset.theme;
  if (chosen === 'light' || chosen === 'dark') return chosen;
  return media.matches ? 'dark' : 'light';
}

export function setTheme(theme: 'light' | 'dark'): void {
  document.documentElement.dataset.theme = theme;
  try {
    localStorage.setItem(KEY, theme);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
  window.dispatchEvent(new Event(THEME_EVENT));
}

media.addEventListener('change', () => {
  if (!document.documentElement.dataset.theme) window.dispatchEvent(new Event(THEME_EVENT));
});

/** Colours of the current theme, read from the stylesheet's variables. */
export function palette() {
  const style = getComputedStyle(document.documentElement);
  const v = (name: string) => style.getPropertyValue(name).trim();
  return {
    text: v('--text'),
    muted: v('--muted'),
    grid: v('--border'),
    surface: v('--surface'),
    surface2: v('--surface-2'),
    accent: v('--accent'),
    previous: v('--previous'),
    hotspot: v('--hotspot'),
    automatic: v('--automatic'),
    deleted: v('--deleted'),
    series: [v('--accent'), v('--c2'), v('--c3'), v('--c4'), v('--c5'), v('--c6')],
    heat: [v('--heat-0'), v('--heat-1'), v('--heat-2')],
    /** The map's fewest plays: set apart from countries without any. */
    mapLow: v('--map-low'),
  };
}
