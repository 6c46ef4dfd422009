// The world map of the countries breakdown: Natural Earth's 1:110m country
// outlines (world-atlas, TopoJSON), named by ISO 3166-1 alpha-2 code, drawn
// as an ECharts map series in the Equal Earth projection. Loaded on demand:
// neither the outlines nor the map series are in the app's first chunks.

import * as echarts from 'echarts/core';
// The map series registers itself; imported by its own path, so that it
// stays in this chunk rather than in the one shared with the other charts.
import 'echarts/lib/chart/map';
import type { Feature, FeatureCollection, Geometry, MultiPolygon, Polygon } from 'geojson';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import codes from 'i18n-iso-countries/codes.json';
import countries110m from 'world-atlas/countries-110m.json';

import { draw, tooltipBase } from './charts';
import { palette } from './theme';

const MAP = 'pathlens-world';

/**
 * Outlines the atlas gives no ISO number, joined to the country whose code
 * geolocation reports there (Kosovo has the user-assigned XK).
 */
const UNNUMBERED: Record<string, string> = { 'N. Cyprus': 'CY', Somaliland: 'SO', Kosovo: 'XK' };
/** Left out: nobody watches from there, and it would take a third of the height. */
const LEFT_OUT = new Set(['AQ']);

/** Country codes with an outline on the map. */
const mapped = new Set<string>();

/** Whether the country has an outline on the map (tiny ones have none). */
export function onMap(code: string): boolean {
  register();
  return mapped.has(code);
}

type Ring = Polygon['coordinates'][number];

/**
 * A polygon whose outer ring crosses the antimeridian (Fiji, Russia's
 * Chukotka) as one polygon each side of it: drawn whole, its ring would
 * run across the whole map.
 */
function splitAtAntimeridian(polygon: Polygon['coordinates']): Polygon['coordinates'][] {
  // (Holes are dropped with it: none of the atlas's crossing polygons has any.)
  const [outer] = polygon;
  const parts: Ring[] = [[]];
  for (const [i, point] of outer.entries()) {
    if (i > 0 && Math.abs(point[0] - outer[i - 1][0]) > 180) parts.push([]);
    parts[parts.length - 1].push(point);
  }
  if (parts.length === 1) return [polygon];
  // The ring ends on the side it began: its last run continues its first.
  const first = parts.shift()!;
  parts[parts.length - 1].push(...first);
  const east = parts.filter((p) => p[0][0] > 0).flat();
  const west = parts.filter((p) => p[0][0] <= 0).flat();
  return [east, west].filter((ring) => ring.length >= 3).map((ring) => [[...ring, ring[0]]]);
}

function polygons(geometry: Geometry): MultiPolygon['coordinates'] {
  const list = geometry.type === 'Polygon' ? [(geometry as Polygon).coordinates] : geometry.type === 'MultiPolygon' ? (geometry as MultiPolygon).coordinates : [];
  return list.flatMap(splitAtAntimeridian);
}

let registered = false;

function register(): void {
  if (registered) return;
  registered = true;
  const alpha2 = new Map((codes as string[][]).map(([a2, , numeric]) => [numeric, a2]));
  const topology = countries110m as unknown as Topology<{ countries: GeometryCollection<{ name: string }> }>;
  const collection = feature(topology, topology.objects.countries) as FeatureCollection<Geometry, { name: string }>;
  // One feature per code, whatever number of outlines the atlas has for it.
  const byCode = new Map<string, MultiPolygon['coordinates']>();
  for (const item of collection.features) {
    const code = (item.id !== undefined ? alpha2.get(String(item.id).padStart(3, '0')) : undefined) ?? UNNUMBERED[item.properties?.name ?? ''];
    if (!code || LEFT_OUT.has(code) || !item.geometry) continue;
    byCode.set(code, [...(byCode.get(code) ?? []), ...polygons(item.geometry)]);
  }
  const features: Feature<MultiPolygon, { name: string }>[] = [...byCode].map(([code, coordinates]) => ({
    type: 'Feature',
    properties: { name: code },
    geometry: { type: 'MultiPolygon', coordinates },
  }));
  for (const code of byCode.keys()) mapped.add(code);
  echarts.registerMap(MAP, { type: 'FeatureCollection', features } as any);
}

// Equal Earth (Šavrič, Patterson and Jenny, 2018): areas true to size, the
// shapes of the familiar world maps.
const A1 = 1.340264;
const A2 = -0.081106;
const A3 = 0.000893;
const A4 = 0.003796;
const M = Math.sqrt(3) / 2;
const RAD = Math.PI / 180;

function project([lng, lat]: number[]): number[] {
  const theta = Math.asin(M * Math.sin(lat * RAD));
  const t2 = theta * theta;
  const t6 = t2 * t2 * t2;
  const x = (lng * RAD * Math.cos(theta)) / (M * (A1 + 3 * A2 * t2 + t6 * (7 * A3 + 9 * A4 * t2)));
  const y = theta * (A1 + A2 * t2 + t6 * (A3 + A4 * t2));
  return [x, -y];
}

function unproject([x, negY]: number[]): number[] {
  const y = -negY;
  let theta = y;
  let t2 = theta * theta;
  let t6 = t2 * t2 * t2;
  for (let i = 0; i < 12; i += 1) {
    const f = theta * (A1 + A2 * t2 + t6 * (A3 + A4 * t2)) - y;
    const slope = A1 + 3 * A2 * t2 + t6 * (7 * A3 + 9 * A4 * t2);
    const step = f / slope;
    theta -= step;
    t2 = theta * theta;
    t6 = t2 * t2 * t2;
    if (Math.abs(step) < 1e-9) break;
  }
  const lng = (M * x * (A1 + 3 * A2 * t2 + t6 * (7 * A3 + 9 * A4 * t2))) / Math.cos(theta);
  const lat = Math.asin(Math.sin(theta) / M);
  return [lng / RAD, lat / RAD];
}

export interface MapValue {
  code: string;
  value: number;
}

export interface WorldMap {
  values: MapValue[];
  /** What the colours measure, for the legend and the chart's description. */
  measure: string;
  format: (value: number) => string;
  tooltip: (code: string) => string;
  onClick: (code: string) => void;
  ariaLabel: string;
}

/** The latest map asked of each element that had no size to draw it in,
 * and what watches for its size. */
const waiting = new WeakMap<HTMLElement, { spec: WorldMap; observer: ResizeObserver }>();

function sized(element: HTMLElement): boolean {
  return element.isConnected && element.clientWidth > 0 && element.clientHeight > 0;
}

/** Countries shaded by `values`; a country without a value stays plain. */
export function worldMapChart(element: HTMLElement, spec: WorldMap): void {
  const wait = waiting.get(element);
  // Out of the page (or not laid out yet) there is nothing to fit the map
  // in: it is drawn when the element gets a size.
  if (!sized(element)) {
    if (wait) {
      wait.spec = spec;
    } else {
      const observer = new ResizeObserver(() => {
        const latest = waiting.get(element);
        if (latest && sized(element)) worldMapChart(element, latest.spec);
      });
      observer.observe(element);
      waiting.set(element, { spec, observer });
    }
    return;
  }
  if (wait) {
    wait.observer.disconnect();
    waiting.delete(element);
  }
  register();
  const colors = palette();
  const max = Math.max(1, ...spec.values.map((v) => v.value));
  const known = new Set(spec.values.map((v) => v.code));
  draw(
    element,
    {
      aria: { enabled: true, label: { description: spec.ariaLabel } },
      tooltip: {
        ...tooltipBase(),
        trigger: 'item',
        formatter: (params: any) => spec.tooltip(String(params.name)),
      },
      visualMap: {
        type: 'continuous',
        min: 0,
        max,
        left: 0,
        bottom: 0,
        orient: 'horizontal',
        itemWidth: 10,
        itemHeight: 90,
        calculable: false,
        realtime: false,
        text: [spec.measure, spec.format(0)],
        formatter: (value: number) => spec.format(value),
        textGap: 6,
        textStyle: { color: colors.muted, fontSize: 11 },
        inRange: { color: [colors.mapLow, colors.heat[1], colors.heat[2]] },
        seriesIndex: 0,
      },
      series: [
        {
          type: 'map',
          map: MAP,
          projection: { project, unproject },
          roam: false,
          selectedMode: false,
          left: 0,
          right: 0,
          top: 4,
          bottom: 28,
          itemStyle: { areaColor: colors.surface2, borderColor: colors.grid, borderWidth: 0.6 },
          emphasis: {
            label: { show: false },
            itemStyle: { areaColor: colors.accent, borderColor: colors.text, borderWidth: 1 },
          },
          label: { show: false },
          data: spec.values.map((v) => ({ name: v.code, value: v.value })),
        },
      ],
    },
    (params) => {
      const code = String(params.name ?? '');
      if (known.has(code)) spec.onClick(code);
    },
  );
  element.style.cursor = 'default';
}
