// Modules loaded on first use, so the first paint needs only the app itself.

let charts: Promise<typeof import('./charts')> | null = null;

export function loadCharts(): Promise<typeof import('./charts')> {
  charts ??= import('./charts');
  return charts;
}
