// Every chart of the dashboard, drawn with Apache ECharts. This module is
// loaded on demand, so the page's first paint does not wait for it.

import * as echarts from 'echarts/core';
// Each chart and component registers itself, imported by its own path: the
// 'echarts/charts' and 'echarts/components' indexes would pull the world
// map's series (worldmap.ts, loaded only with the map) into this chunk.
import 'echarts/lib/chart/line';
import 'echarts/lib/chart/sankey';
import 'echarts/lib/chart/graph';
import 'echarts/lib/chart/heatmap';
import 'echarts/lib/component/grid';
import 'echarts/lib/component/tooltip';
import 'echarts/lib/component/legend';
import 'echarts/lib/component/visualMap';
import 'echarts/lib/component/aria';
import { CanvasRenderer } from 'echarts/renderers';

import { palette } from './theme';

echarts.use([CanvasRenderer]);

type Option = echarts.EChartsCoreOption;
type Click = (id: string) => void;

const observed = new WeakSet<HTMLElement>();
/** Charts laid out in pixels draw again when their size changes. */
const relayout = new WeakMap<HTMLElement, () => void>();

function chartFor(element: HTMLElement): echarts.ECharts {
  const chart = echarts.getInstanceByDom(element) ?? echarts.init(element, undefined, { renderer: 'canvas' });
  if (!observed.has(element)) {
    observed.add(element);
    let width = element.clientWidth;
    new ResizeObserver(() => {
      // Out of the page, a chart has no size to lay out in (a map's
      // projection cannot be inverted at zero size).
      if (!element.isConnected || element.clientWidth === 0 || element.clientHeight === 0) return;
      chart.resize();
      if (element.clientWidth !== width) {
        width = element.clientWidth;
        relayout.get(element)?.();
      }
    }).observe(element);
  }
  return chart;
}

export function draw(element: HTMLElement, option: Option, onClick?: (params: any) => void): echarts.ECharts {
  const chart = chartFor(element);
  const colors = palette();
  chart.setOption(
    {
      backgroundColor: 'transparent',
      textStyle: { fontFamily: 'inherit', color: colors.text },
      aria: { enabled: true },
      animationDuration: 300,
      ...option,
    },
    { notMerge: true },
  );
  chart.off('click');
  if (onClick) chart.on('click', onClick);
  return chart;
}

export function tooltipBase() {
  const colors = palette();
  return {
    className: 'chart-tooltip',
    backgroundColor: colors.surface,
    borderColor: colors.grid,
    textStyle: { color: colors.text },
    confine: true,
    // The HTML comes from our own formatters, which escape every text.
    renderMode: 'html',
  };
}

function axisStyle() {
  const colors = palette();
  return {
    axisLine: { lineStyle: { color: colors.grid } },
    axisTick: { lineStyle: { color: colors.grid } },
    axisLabel: { color: colors.muted },
    splitLine: { lineStyle: { color: colors.grid, opacity: 0.6 } },
  };
}

export interface SeriesChart {
  /** Axis labels, one per point. */
  labels: string[];
  current: { name: string; values: (number | null)[] };
  previous?: { name: string; values: (number | null)[] };
  yFormat: (value: number) => string;
  tooltip: (index: number) => string;
  ariaLabel: string;
  /** The point whose bucket is not over yet: drawn dashed, and nothing after it. */
  partial?: number;
}

/** A line per period over shared x positions; the previous period dashed. */
export function seriesChart(element: HTMLElement, spec: SeriesChart): void {
  const colors = palette();
  const partial = spec.partial;
  const current = partial === undefined ? spec.current.values : spec.current.values.map((v, i) => (i < partial ? v : null));
  const series: unknown[] = [
    {
      name: spec.current.name,
      type: 'line',
      data: current,
      showSymbol: spec.labels.length <= 60,
      symbolSize: 6,
      lineStyle: { width: 2.5, color: colors.accent },
      itemStyle: { color: colors.accent },
      areaStyle: { color: colors.accent, opacity: 0.08 },
      z: 3,
    },
  ];
  if (partial !== undefined) {
    // The bucket in progress: its line dashed, as far as now.
    series.push({
      name: spec.current.name,
      type: 'line',
      data: spec.current.values.map((v, i) => (i === partial || i === partial - 1 ? v : null)),
      showSymbol: true,
      symbol: 'emptyCircle',
      symbolSize: 6,
      lineStyle: { width: 2.5, type: 'dashed', color: colors.accent },
      itemStyle: { color: colors.accent },
      z: 3,
    });
  }
  if (spec.previous) {
    series.push({
      name: spec.previous.name,
      type: 'line',
      data: spec.previous.values,
      showSymbol: spec.labels.length <= 60,
      symbolSize: 5,
      lineStyle: { width: 2, type: 'dashed', color: colors.previous },
      itemStyle: { color: colors.previous },
      z: 2,
    });
  }
  draw(element, {
    aria: { enabled: true, label: { description: spec.ariaLabel } },
    grid: { left: 8, right: 16, top: spec.previous ? 36 : 16, bottom: 8, containLabel: true },
    legend: spec.previous ? { top: 0, left: 0, textStyle: { color: colors.muted }, icon: 'roundRect' } : undefined,
    tooltip: {
      ...tooltipBase(),
      trigger: 'axis',
      axisPointer: { type: 'line', lineStyle: { color: colors.muted } },
      formatter: (params: any) => {
        const first = Array.isArray(params) ? params[0] : params;
        return spec.tooltip(first.dataIndex);
      },
    },
    xAxis: { type: 'category', data: spec.labels, boundaryGap: false, ...axisStyle(), splitLine: { show: false } },
    yAxis: { type: 'value', min: 0, ...axisStyle(), axisLabel: { color: colors.muted, formatter: spec.yFormat } },
    series,
  });
}

export interface HeatRow {
  label: string;
  clicks: number[];
  tooltip: (bucket: number) => string;
}

/** One row of 100 cells per hotspot: clicks over its time window. */
export function heatmapChart(element: HTMLElement, rows: HeatRow[]): void {
  const colors = palette();
  const data: [number, number, number][] = [];
  let max = 1;
  rows.forEach((row, y) =>
    row.clicks.forEach((clicks, x) => {
      data.push([x, y, clicks]);
      max = Math.max(max, clicks);
    }),
  );
  element.style.height = `${Math.max(140, rows.length * 44 + 90)}px`;
  draw(element, {
    aria: { enabled: true, label: { description: `Heat map of clicks over the time window of ${rows.length} hotspots` } },
    grid: { left: 8, right: 16, top: 8, bottom: 56, containLabel: true },
    tooltip: {
      ...tooltipBase(),
      trigger: 'item',
      formatter: (params: any) => rows[params.value[1]].tooltip(params.value[0]),
    },
    xAxis: {
      type: 'category',
      data: Array.from({ length: 100 }, (_, i) => `${i}%`),
      name: 'share of the hotspot’s time window',
      nameLocation: 'middle',
      nameGap: 28,
      nameTextStyle: { color: colors.muted },
      ...axisStyle(),
      // Every 10 %, or every 25 % where that would crowd (a phone).
      axisLabel: { color: colors.muted, interval: element.clientWidth < 480 ? 24 : 9, hideOverlap: true },
      splitArea: { show: false },
    },
    yAxis: {
      type: 'category',
      data: rows.map((r) => r.label),
      inverse: true,
      ...axisStyle(),
      // Long hotspot labels are cut short (the tooltip has them whole).
      axisLabel: { color: colors.muted, width: Math.max(80, Math.round(element.clientWidth * 0.3)), overflow: 'truncate' },
      splitLine: { show: false },
    },
    visualMap: {
      min: 0,
      max,
      show: false,
      inRange: { color: colors.heat },
    },
    series: [
      {
        type: 'heatmap',
        data,
        itemStyle: { borderColor: colors.surface, borderWidth: 1 },
        emphasis: { itemStyle: { borderColor: colors.text, borderWidth: 1 } },
      },
    ],
  });
}

export interface FlowNode {
  key: string;
  nodeId: string;
  label: string;
  deleted: boolean;
}

export interface FlowLink {
  source: string;
  target: string;
  value: number;
  cause: 'hotspot' | 'automatic';
  tooltip: string;
}

/** Sankey of transitions; the links must form no cycle. */
export function sankeyChart(element: HTMLElement, nodes: FlowNode[], links: FlowLink[], nodeTooltip: (key: string) => string, onClick: Click): void {
  const colors = palette();
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const color = (cause: FlowLink['cause']) => (cause === 'hotspot' ? colors.hotspot : colors.automatic);
  element.style.height = `${Math.max(320, Math.min(720, nodes.length * 34))}px`;
  draw(
    element,
    {
      aria: { enabled: true, label: { description: `Sankey diagram of ${links.length} transitions between ${nodes.length} nodes` } },
      tooltip: {
        ...tooltipBase(),
        trigger: 'item',
        formatter: (params: any) => (params.dataType === 'edge' ? params.data.tooltip : nodeTooltip(params.data.name)),
      },
      series: [
        {
          type: 'sankey',
          left: 8,
          right: 140,
          top: 12,
          bottom: 12,
          nodeGap: 12,
          nodeWidth: 14,
          layoutIterations: 64,
          draggable: false,
          emphasis: { focus: 'adjacency' },
          data: nodes.map((n) => ({
            name: n.key,
            itemStyle: { color: n.deleted ? colors.deleted : colors.accent, borderColor: n.deleted ? colors.deleted : colors.accent },
          })),
          links: links.map((l) => ({ ...l, lineStyle: { color: color(l.cause), opacity: 0.45 } })),
          label: {
            color: colors.text,
            formatter: (params: any) => byKey.get(params.name)?.label ?? params.name,
          },
          lineStyle: { curveness: 0.5 },
        },
      ],
    },
    (params) => {
      if (params.dataType === 'node') {
        const node = byKey.get(params.data.name);
        if (node) onClick(node.nodeId);
      }
    },
  );
}

export interface MapNode {
  id: string;
  label: string;
  x: number;
  y: number;
  plays: number;
  start: boolean;
  end: boolean;
  deleted: boolean;
  tooltip: string;
}

export interface MapEdge {
  source: string;
  target: string;
  count: number;
  /** Part of the graph (a hotspot leads there) or only observed. */
  designed: boolean;
  back: boolean;
  tooltip: string;
}

/** The branching graph, laid out by level, with plays and transition counts.
 * Node positions are columns (x) and rows (y, centred on 0); they become
 * pixels here so that the drawing is not stretched. */
export function graphChart(element: HTMLElement, nodes: MapNode[], edges: MapEdge[], onClick: Click): void {
  relayout.set(element, () => graphChart(element, nodes, edges, onClick));
  const colors = palette();
  const maxPlays = Math.max(1, ...nodes.map((n) => n.plays));
  const maxCount = Math.max(1, ...edges.map((e) => e.count));
  const last = Math.max(...nodes.map((n) => n.x));
  const first = Math.min(...nodes.map((n) => n.x));
  const half = Math.max(0, ...nodes.map((n) => Math.abs(n.y)));
  const height = Math.max(260, half * 2 * 104 + 140);
  element.style.height = `${height}px`;
  const hidden = { show: false, splitLine: { show: false } };
  draw(
    element,
    {
      aria: { enabled: true, label: { description: `Graph of ${nodes.length} nodes by level, with plays on nodes and transition counts on edges` } },
      tooltip: { ...tooltipBase(), trigger: 'item', formatter: (params: any) => params.data.tooltip },
      // Positions on hidden value axes: columns are levels, rows centred on 0.
      grid: { left: 90, right: 90, top: 36, bottom: 64 },
      xAxis: { type: 'value', min: last > first ? first : first - 1, max: last > first ? last : last + 1, ...hidden },
      yAxis: { type: 'value', min: half > 0 ? -half : -1, max: half > 0 ? half : 1, inverse: true, ...hidden },
      series: [
        {
          type: 'graph',
          layout: 'none',
          // On a narrow screen nodes sit close: a label that would cover
          // another is left out (its node's tooltip still has it).
          labelLayout: { hideOverlap: true },
          coordinateSystem: 'cartesian2d',
          roam: false,
          edgeSymbol: ['none', 'arrow'],
          edgeSymbolSize: 9,
          emphasis: { focus: 'adjacency', lineStyle: { width: 4 } },
          data: nodes.map((n) => ({
            id: n.id,
            name: n.id,
            value: [n.x, n.y],
            tooltip: n.tooltip,
            symbol: n.start ? 'diamond' : n.end ? 'roundRect' : 'circle',
            symbolSize: Math.round(20 + 26 * Math.sqrt(n.plays / maxPlays)),
            itemStyle: {
              color: n.deleted ? colors.deleted : n.plays === 0 ? colors.surface : colors.accent,
              borderColor: n.deleted ? colors.deleted : colors.accent,
              borderWidth: 2,
              opacity: n.deleted ? 0.6 : 1,
            },
            label: {
              show: true,
              position: 'bottom',
              color: colors.text,
              formatter: `${escapeRich(n.label)}\n{plays|${n.plays.toLocaleString()} plays}`,
              rich: { plays: { color: colors.muted, fontSize: 11, lineHeight: 16 } },
            },
          })),
          edges: edges.map((e) => ({
            source: e.source,
            target: e.target,
            tooltip: e.tooltip,
            value: e.count,
            lineStyle: {
              color: e.designed ? colors.muted : colors.automatic,
              type: e.designed ? 'solid' : 'dashed',
              width: 1 + 5 * (e.count / maxCount),
              curveness: e.back ? 0.3 : 0.06,
              opacity: e.count === 0 ? 0.35 : 0.85,
            },
            label: {
              show: e.count > 0,
              formatter: e.count.toLocaleString(),
              color: colors.text,
              backgroundColor: colors.surface,
              padding: [1, 4],
              borderRadius: 3,
              fontSize: 11,
            },
          })),
        },
      ],
    },
    (params) => {
      if (params.dataType === 'node') onClick(params.data.id);
    },
  );
}

function escapeRich(text: string): string {
  return text.replace(/[{}|]/g, ' ');
}
