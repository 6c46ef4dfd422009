// Modules loaded on first use, so the first paint needs only the app itself.

let charts: Promise<typeof import('./charts')> | null = null;

export function loadCharts(): Promise<typeof import('./charts')> {
  charts ??= import('./charts');
  return charts;
}

// The world map (its series and the countries' outlines) only when a map is shown.
let worldMap: Promise<typeof import('./worldmap')> | null = null;

export function loadWorldMap(): Promise<typeof import('./worldmap')> {
  worldMap ??= import('./worldmap');
  return worldMap;
}
