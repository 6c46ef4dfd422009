// Node drill-down: the node's figures, its viewing curve per percent, its
// hotspots (behaviour, destination, clicks, click-through rate) and a heat
// map of when in each hotspot's window viewers clicked.

import { report, type Report, type Row } from '../api';
import { fill, h, icon, ICONS } from '../dom';
import { BEHAVIORS, formatInstantDay, formatInteger, formatMs, formatValue } from '../format';
import { loadCharts } from '../lazy';
import { hasFilters, panelParams } from '../state';
import type { Context, PanelView } from '../pages/video';
import { csvButton, dataTable, emptyState, esc, Loader, Panel, type TableColumn } from '../ui';
import { nodeTags } from './nodes';

interface Drill {
  node: Report;
  curve: Report;
  heatmaps: Report[];
}

export class NodePanel implements PanelView {
  readonly element: HTMLElement;
  private readonly panel = new Panel('node', 'Node');
  private readonly loader = new Loader<Drill>();
  private readonly curveChart = h('div', { class: 'chart chart-small', id: 'curve-chart' });
  private readonly heatChart = h('div', { class: 'chart', id: 'heatmap-chart' });
  private context: Context | null = null;

  constructor() {
    this.element = this.panel.element;
    this.element.tabIndex = -1;
    this.element.hidden = true;
    this.panel.actions.append(
      csvButton('the hotspots of this node', () => this.csv('node')),
      h('button', { type: 'button', class: 'btn btn-small btn-ghost', id: 'close-node', onclick: () => this.context?.set({ node: '' }) }, icon(ICONS.close), 'Close'),
    );
  }

  private csv(kind: 'node' | 'curve') {
    const state = this.context!.state;
    const params = panelParams(state);
    return { video: state.video, kind, params: kind === 'node' ? params.node(state.node) : params.curve(state.node) };
  }

  update(context: Context): void {
    this.context = context;
    const state = context.state;
    if (!state.node) {
      this.element.hidden = true;
      this.loader.forget();
      this.panel.loading(false);
      return;
    }
    this.element.hidden = false;
    const params = panelParams(state);
    const key = params.node(state.node).toString();
    this.loader.run(
      key,
      async (signal) => {
        // The heat maps of the node's hotspots in the graph start beside its
        // report rather than after it; a hotspot only the report names (one
        // clicked under an id the graph no longer has) gets its own after.
        const early = new Map<string, Promise<Report>>();
        void context.videoLoaded.then((video) => {
          const graphNode = video.graph.nodes.find((n) => n.id === state.node);
          for (const hotspot of graphNode?.hotspots ?? []) {
            if (signal.aborted || early.has(hotspot.id)) continue;
            const heatmap = report(state.video, 'heatmap', params.heatmap(hotspot.id), signal);
            // One the report turns out not to list is not waited for.
            heatmap.catch(() => undefined);
            early.set(hotspot.id, heatmap);
          }
        });
        const [node, curve] = await Promise.all([report(state.video, 'node', params.node(state.node), signal), report(state.video, 'curve', params.curve(state.node), signal)]);
        const heatmaps = await Promise.all(
          node.rows.map((row) => {
            const id = String(row.hotspot_id);
            return early.get(id) ?? report(state.video, 'heatmap', params.heatmap(id), signal);
          }),
        );
        return { node, curve, heatmaps };
      },
      {
        start: () => {
          this.panel.loading(true);
          this.panel.title.textContent = `Node: ${context.nodeName(state.node)}`;
        },
        done: () => {
          this.panel.loading(false);
          this.render();
        },
        fail: (error) =>
          this.panel.error(error, () => {
            this.loader.forget();
            this.update(context);
          }),
      },
    );
  }

  redraw(): void {
    void this.drawCharts();
  }

  private render(): void {
    const data = this.loader.value;
    const context = this.context;
    if (!data || !context) return;
    const state = context.state;
    const node = data.node.details?.node ?? {};
    const ends = new Set(context.video?.end_nodes ?? []);
    fill(this.panel.title, `Node: ${node.name ?? state.node}`, ' ', nodeTags(node, ends.has(String(node.node_id))));
    this.panel.subtitle.textContent = `Level ${formatValue(node.level, 'integer')} · ${formatMs(node.duration_ms ?? 0)} long · id ${node.node_id}`;
    const figure = (label: string, value: string, id: string) => h('div', { class: 'figure', 'data-figure': id }, h('dt', null, label), h('dd', null, value));
    const summary = h(
      'dl',
      { class: 'figures' },
      figure('Plays', formatValue(node.plays, 'integer'), 'plays'),
      figure('Unique Viewers', formatValue(node.unique_viewers, 'integer'), 'unique_viewers'),
      figure('Minutes Viewed', formatValue(node.minutes_viewed, 'number'), 'minutes_viewed'),
      figure('Completion Rate', formatValue(node.completion_rate, 'ratio'), 'completion_rate'),
      figure('Drop-offs', formatValue(node.dropoffs, 'integer'), 'dropoffs'),
    );

    const graphNode = context.video?.graph.nodes.find((n) => n.id === state.node);
    const type = (key: string) => data.node.columns.find((c) => c.key === key)?.type ?? 'number';
    const columns: TableColumn[] = [
      {
        key: 'label',
        label: 'Hotspot',
        type: 'text',
        render: (row: Row) => [
          h('span', null, String(row.label || row.hotspot_id)),
          typeof row.deleted_at === 'string' ? h('span', { class: 'tag tag-deleted' }, `Deleted ${formatInstantDay(String(row.deleted_at))}`) : null,
        ],
      },
      { key: 'behavior', label: 'Behaviour', type: 'text', render: (row: Row) => BEHAVIORS[String(row.behavior)] ?? String(row.behavior) },
      {
        key: 'destination',
        label: 'Destination',
        type: 'text',
        render: (row: Row) => {
          const hotspot = graphNode?.hotspots?.find((x) => x.id === row.hotspot_id);
          if (row.behavior === 'go_to_url' && row.destination) return h('a', { href: String(row.destination), target: '_blank', rel: 'noopener noreferrer', class: 'url' }, String(row.destination));
          if (hotspot?.behavior.type === 'go_to_node') {
            const target = hotspot.behavior.node_id;
            return h('button', { type: 'button', class: 'link-btn as-link', title: `Open node ${row.destination}`, onclick: () => context.set({ node: target }, { focus: 'node' }) }, String(row.destination));
          }
          return row.destination ? String(row.destination) : h('span', { class: 'muted' }, '—');
        },
      },
      { key: 'clicks', label: 'Clicks', type: type('clicks'), compared: true },
      { key: 'click_through_rate', label: 'Click-through Rate', type: type('click_through_rate'), compared: true },
      { key: 'level', label: 'Node Level', type: 'integer' },
      {
        key: 'heatmap',
        label: 'Heat map',
        type: 'text',
        render: (row: Row) => csvButton(`the click heat map of ${row.label}`, () => ({ video: state.video, kind: 'heatmap', params: panelParams(state).heatmap(String(row.hotspot_id)) })),
      },
    ];
    const hotspots =
      data.node.rows.length === 0
        ? emptyState('This node has no hotspots', 'Viewers cannot make a choice here; the node plays through to its end.')
        : h('div', { class: 'cards-on-phone' }, dataTable({ caption: 'Hotspots of the node', columns, rows: data.node.rows, comparing: data.node.comparison !== null, rowId: (row) => String(row.hotspot_id) }));
    const clicks = data.heatmaps.reduce((sum, r) => sum + Number(r.details?.hotspot?.clicks ?? 0), 0);
    const noPlays = !node.plays;
    fill(
      this.panel.body,
      summary,
      h(
        'div',
        { class: 'sub-head' },
        h('h3', null, 'Viewing curve'),
        h('p', { class: 'muted' }, 'How many of its plays watched each percent of the node'),
        csvButton('the viewing curve', () => this.csv('curve')),
      ),
      noPlays ? emptyState('Nobody played this node in the period', hasFilters(state) ? 'No play matches the filters.' : 'Choose another period, or a node closer to the start.') : this.curveChart,
      h('div', { class: 'sub-head' }, h('h3', null, 'Hotspots'), h('p', { class: 'muted' }, 'Clicks include link clicks and the node switches a hotspot caused; click-through rate = clicks / plays of the node')),
      hotspots,
      data.heatmaps.length
        ? [
            h('div', { class: 'sub-head' }, h('h3', null, 'Click heat map'), h('p', { class: 'muted' }, 'When in each hotspot’s time window viewers clicked')),
            clicks === 0 ? emptyState('No clicks in this period', 'None of this node’s hotspots was clicked in the period.') : this.heatChart,
          ]
        : null,
    );
    void this.drawCharts();
  }

  private async drawCharts(): Promise<void> {
    const data = this.loader.value;
    if (!data || this.element.hidden) return;
    const { seriesChart, heatmapChart } = await loadCharts();
    const curve = data.curve;
    const comparing = curve.comparison !== null;
    const rows = curve.rows;
    if (this.curveChart.isConnected) {
      seriesChart(this.curveChart, {
        labels: rows.map((r) => `${r.percent}%`),
        current: { name: 'Viewers', values: rows.map((r) => Number(r.viewers)) },
        previous: comparing ? { name: 'Viewers, comparison period', values: rows.map((r) => Number(r.viewers_previous ?? 0)) } : undefined,
        yFormat: (v) => formatInteger(v),
        ariaLabel: 'Viewers at each percent of the node',
        tooltip: (i) => {
          const row = rows[i];
          let html = `<div class="tt" data-percent="${row.percent}"><div class="tt-title">${esc(`${row.percent}% · ${formatMs(Number(row.offset_ms))}`)}</div>`;
          html += `<div class="tt-row"><span class="tt-dot tt-current"></span><span class="tt-name">Viewers</span><b class="tt-value">${esc(formatValue(row.viewers, 'integer'))}</b></div>`;
          html += `<div class="tt-row"><span class="tt-name">Share of plays</span><b>${esc(formatValue(row.share, 'ratio'))}</b></div>`;
          if (comparing) html += `<div class="tt-row"><span class="tt-dot tt-previous"></span><span class="tt-name">Comparison period</span><b>${esc(formatValue(row.viewers_previous, 'integer'))}</b></div>`;
          return `${html}</div>`;
        },
      });
    }
    if (this.heatChart.isConnected) {
      heatmapChart(
        this.heatChart,
        data.heatmaps.map((heat) => {
          const hotspot = heat.details?.hotspot ?? {};
          return {
            label: String(hotspot.label || hotspot.hotspot_id),
            clicks: heat.rows.map((r) => Number(r.clicks)),
            tooltip: (bucket: number) => {
              const row = heat.rows[bucket];
              return `<div class="tt"><div class="tt-title">${esc(hotspot.label)}</div><div class="tt-row"><span class="tt-name">${esc(`${bucket}% of its window, ${formatMs(Number(row.offset_ms))} into the node`)}</span></div><div class="tt-row"><span class="tt-name">Clicks</span><b class="tt-value">${esc(formatValue(row.clicks, 'integer'))}</b></div></div>`;
            },
          };
        }),
      );
    }
  }
}
