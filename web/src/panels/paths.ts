// Paths: where viewers went. A Sankey of the node-to-node transitions (by a
// hotspot click or automatic), and the branching graph itself laid out by
// level, with plays on the nodes and transition counts on the edges.

import { report, type Report, type Row, type Video } from '../api';
import { fill, h } from '../dom';
import { formatInteger, formatValue } from '../format';
import { loadCharts } from '../lazy';
import type { FlowLink, FlowNode, MapEdge, MapNode } from '../charts';
import { commonParams, hasFilters, panelParams, withParams, type ViewState } from '../state';
import type { Context, PanelView } from '../pages/video';
import { csvButton, emptyState, esc, Loader, Panel } from '../ui';

interface PathsData {
  transitions: Report;
  nodes: Report;
}

interface Pair {
  from: string;
  to: string;
  count: number;
  parts: { label: string; count: number; cause: string }[];
}

const FLOWS: [ViewState['flow'], string][] = [
  ['all', 'All'],
  ['hotspot', 'Hotspot clicks'],
  ['automatic', 'Automatic'],
];

/** Transitions summed per (from, to), keeping what caused them. */
function pairs(rows: Row[], flow: ViewState['flow']): Pair[] {
  const byPair = new Map<string, Pair>();
  for (const row of rows) {
    if (flow !== 'all' && row.cause !== flow) continue;
    const count = Number(row.count);
    if (!count) continue;
    const from = String(row.from_node_id);
    const to = String(row.to_node_id);
    const key = `${from}\u0000${to}`;
    let pair = byPair.get(key);
    if (!pair) {
      pair = { from, to, count: 0, parts: [] };
      byPair.set(key, pair);
    }
    pair.count += count;
    pair.parts.push({ label: row.cause === 'hotspot' ? `hotspot “${row.hotspot_label ?? row.hotspot_id}”` : 'automatic', count, cause: String(row.cause) });
  }
  return [...byPair.values()];
}

function pairTooltip(pair: Pair, name: (id: string) => string): string {
  const parts = pair.parts
    .sort((a, b) => b.count - a.count)
    .map((p) => `<div class="tt-row"><span class="tt-name">${esc(p.label)}</span><b>${esc(formatInteger(p.count))}</b></div>`)
    .join('');
  return `<div class="tt"><div class="tt-title">${esc(name(pair.from))} → ${esc(name(pair.to))}</div><div class="tt-row"><span class="tt-name">Transitions</span><b class="tt-value">${esc(formatInteger(pair.count))}</b></div>${parts}</div>`;
}

/** A Sankey needs a graph without cycles: a transition that returns to a
 * node already on the way (found depth-first from the start node) goes to a
 * copy of that node marked as a return instead. */
function acyclic(list: Pair[], order: string[]): { pair: Pair; target: string }[] {
  const out = new Map<string, Pair[]>();
  for (const pair of list) {
    if (!out.has(pair.from)) out.set(pair.from, []);
    out.get(pair.from)!.push(pair);
  }
  for (const edges of out.values()) edges.sort((a, b) => b.count - a.count);
  const state = new Map<string, 'open' | 'done'>();
  const back = new Set<Pair>();
  const visit = (node: string) => {
    state.set(node, 'open');
    for (const pair of out.get(node) ?? []) {
      const seen = state.get(pair.to);
      if (seen === 'open') back.add(pair);
      else if (!seen) visit(pair.to);
    }
    state.set(node, 'done');
  };
  const starts = [...order, ...list.map((p) => p.from)];
  for (const node of starts) if (!state.has(node)) visit(node);
  return list.map((pair) => ({ pair, target: back.has(pair) ? `${pair.to}\u0000return` : pair.to }));
}

/** Columns by level, rows ordered to follow their parents. */
function layout(video: Video, plays: Map<string, number>, edges: Pair[]): { id: string; x: number; y: number }[] {
  const levels = video.levels;
  const maxLevel = Math.max(1, ...Object.values(levels));
  const columns = new Map<number, string[]>();
  for (const node of video.graph.nodes) {
    const level = levels[node.id] ?? maxLevel + 1;
    if (!columns.has(level)) columns.set(level, []);
    columns.get(level)!.push(node.id);
  }
  const parents = new Map<string, string[]>();
  for (const node of video.graph.nodes) {
    for (const hotspot of node.hotspots ?? []) {
      if (hotspot.behavior.type !== 'go_to_node') continue;
      const target = hotspot.behavior.node_id;
      if (!parents.has(target)) parents.set(target, []);
      parents.get(target)!.push(node.id);
    }
  }
  for (const edge of edges) {
    if (!parents.has(edge.to)) parents.set(edge.to, []);
    parents.get(edge.to)!.push(edge.from);
  }
  const y = new Map<string, number>();
  const result: { id: string; x: number; y: number }[] = [];
  for (const level of [...columns.keys()].sort((a, b) => a - b)) {
    const ids = columns.get(level)!;
    const weight = (id: string) => {
      const placed = (parents.get(id) ?? []).map((p) => y.get(p)).filter((v): v is number => v !== undefined);
      return placed.length ? placed.reduce((a, b) => a + b, 0) / placed.length : Number.POSITIVE_INFINITY;
    };
    ids.sort((a, b) => weight(a) - weight(b) || (plays.get(b) ?? 0) - (plays.get(a) ?? 0));
    ids.forEach((id, index) => {
      const position = index - (ids.length - 1) / 2;
      y.set(id, position);
      result.push({ id, x: level, y: position });
    });
  }
  return result;
}

export class PathsPanel implements PanelView {
  readonly element: HTMLElement;
  private readonly panel = new Panel('paths', 'Paths', 'The paths viewers took through the interactive video.');
  private readonly loader = new Loader<PathsData>();
  private readonly flows = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Transitions shown' });
  private readonly sankey = h('div', { class: 'chart', id: 'sankey-chart' });
  private readonly graph = h('div', { class: 'chart', id: 'graph-chart' });
  private readonly sankeySlot = h('div', null, h('p', { class: 'loading-line' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading the transitions…'));
  private context: Context | null = null;

  constructor() {
    this.element = this.panel.element;
    for (const [flow, label] of FLOWS) {
      this.flows.append(h('button', { type: 'button', class: 'seg', 'data-flow': flow, onclick: () => this.context?.set({ flow }, { replace: true }) }, label));
    }
    this.panel.actions.append(
      this.flows,
      csvButton('the transitions', () => {
        const state = this.context!.state;
        return { video: state.video, kind: 'transitions', params: panelParams(state).transitions };
      }),
    );
    fill(
      this.panel.body,
      h('div', { class: 'sub-head' }, h('h3', null, 'Transitions'), h('p', { class: 'muted' }, h('span', { class: 'swatch swatch-hotspot' }), 'by a hotspot click  ', h('span', { class: 'swatch swatch-automatic' }), 'automatic (no click: the node ended). “↩” marks a return to a node seen earlier on the way.')),
      this.sankeySlot,
      h('div', { class: 'sub-head' }, h('h3', null, 'Branching graph'), h('p', { class: 'muted' }, 'Nodes by level (◆ start, ■ end), sized by plays; edges are hotspots that lead on (dashed: taken only automatically), labelled with transitions. Select a node to open it.')),
      this.graph,
    );
  }

  update(context: Context): void {
    this.context = context;
    const state = context.state;
    for (const button of this.flows.querySelectorAll<HTMLButtonElement>('button')) button.setAttribute('aria-pressed', String(button.dataset.flow === state.flow));
    const transitions = panelParams(state).transitions;
    const nodes = withParams(commonParams(state), { sort: 'plays', order: 'desc', page_size: 10000 });
    this.loader.run(
      transitions.toString(),
      async (signal) => {
        const [t, n] = await Promise.all([report(state.video, 'transitions', transitions, signal), report(state.video, 'nodes', nodes, signal)]);
        return { transitions: t, nodes: n };
      },
      {
        start: () => this.panel.loading(true),
        done: () => {
          this.panel.loading(false);
          void this.draw();
        },
        fail: (error) =>
          this.panel.error(error, () => {
            this.loader.forget();
            this.update(context);
          }),
      },
    );
    void this.draw();
  }

  redraw(): void {
    void this.draw();
  }

  private async draw(): Promise<void> {
    const data = this.loader.value;
    const context = this.context;
    if (!data || !context || !context.video) return;
    const { sankeyChart, graphChart } = await loadCharts();
    const state = context.state;
    const video = context.video;
    const name = (id: string) => context.nodeName(id);
    const deleted = new Set(video.graph.nodes.filter((n) => n.deleted_at).map((n) => n.id));
    const plays = new Map(data.nodes.rows.map((r) => [String(r.node_id), Number(r.plays)]));
    const list = pairs(data.transitions.rows, state.flow);
    const open = (id: string) => context.set({ node: id }, { focus: 'node' });

    // Sankey
    if (list.length === 0) {
      fill(
        this.sankeySlot,
        emptyState(
          'No transitions in this period',
          hasFilters(state) || state.flow !== 'all' ? 'No viewer matching the filters moved from one node to another this way.' : 'Viewers did not move on from the first node, or nobody played the video.',
        ),
      );
    } else {
      fill(this.sankeySlot, this.sankey);
      const order = [video.start_node, ...[...plays.entries()].sort((a, b) => b[1] - a[1]).map(([id]) => id)];
      const links = acyclic(list, order);
      const flowNodes = new Map<string, FlowNode>();
      const addNode = (key: string) => {
        if (flowNodes.has(key)) return;
        const [id, mark] = key.split('\u0000');
        flowNodes.set(key, { key, nodeId: id, label: mark ? `↩ ${name(id)}` : name(id), deleted: deleted.has(id) });
      };
      // One link per cause, so hotspot clicks and automatic moves show apart.
      const flowLinks: FlowLink[] = links.flatMap(({ pair, target }) => {
        addNode(pair.from);
        addNode(target);
        const byCause = new Map<string, number>();
        for (const part of pair.parts) byCause.set(part.cause, (byCause.get(part.cause) ?? 0) + part.count);
        return [...byCause.entries()].map(([cause, value]) => ({
          source: pair.from,
          target,
          value,
          cause: cause as 'hotspot' | 'automatic',
          tooltip: pairTooltip({ ...pair, count: value, parts: pair.parts.filter((p) => p.cause === cause) }, name),
        }));
      });
      const inflow = new Map<string, number>();
      const outflow = new Map<string, number>();
      for (const link of flowLinks) {
        inflow.set(link.target, (inflow.get(link.target) ?? 0) + link.value);
        outflow.set(link.source, (outflow.get(link.source) ?? 0) + link.value);
      }
      sankeyChart(
        this.sankey,
        [...flowNodes.values()],
        flowLinks,
        (key) => {
          const node = flowNodes.get(key)!;
          return `<div class="tt"><div class="tt-title">${esc(node.label)}</div><div class="tt-row"><span class="tt-name">Plays</span><b>${esc(formatInteger(plays.get(node.nodeId) ?? 0))}</b></div><div class="tt-row"><span class="tt-name">Arrived here</span><b>${esc(formatInteger(inflow.get(key) ?? 0))}</b></div><div class="tt-row"><span class="tt-name">Moved on</span><b>${esc(formatInteger(outflow.get(key) ?? 0))}</b></div></div>`;
        },
        open,
      );
    }

    // The graph by level
    const designed = new Set<string>();
    for (const node of video.graph.nodes) {
      if (node.deleted_at) continue;
      for (const hotspot of node.hotspots ?? []) {
        if (hotspot.deleted_at || hotspot.behavior.type !== 'go_to_node') continue;
        designed.add(`${node.id}\u0000${hotspot.behavior.node_id}`);
      }
    }
    const placed = layout(video, plays, list);
    const levels = video.levels;
    const ends = new Set(video.end_nodes);
    const mapNodes: MapNode[] = placed.map(({ id, x, y }) => {
      const node = video.graph.nodes.find((n) => n.id === id)!;
      const p = plays.get(id) ?? 0;
      const tags = [id === video.start_node ? 'start node' : '', ends.has(id) ? 'end node' : '', node.deleted_at ? `deleted ${node.deleted_at.slice(0, 10)}` : ''].filter(Boolean).join(', ');
      return {
        id,
        label: node.name,
        x,
        y,
        plays: p,
        start: id === video.start_node,
        end: ends.has(id),
        deleted: Boolean(node.deleted_at),
        tooltip: `<div class="tt" data-node="${esc(id)}"><div class="tt-title">${esc(node.name)}</div><div class="tt-row"><span class="tt-name">Level</span><b>${esc(formatValue(levels[id], 'integer'))}</b></div><div class="tt-row"><span class="tt-name">Plays</span><b class="tt-value">${esc(formatInteger(p))}</b></div>${tags ? `<div class="tt-row muted">${esc(tags)}</div>` : ''}<div class="tt-row muted">Select to open the node</div></div>`,
      };
    });
    const counts = new Map(list.map((p) => [`${p.from}\u0000${p.to}`, p]));
    const keys = new Set([...designed, ...counts.keys()]);
    const known = new Set(placed.map((p) => p.id));
    const mapEdges: MapEdge[] = [...keys]
      .map((key) => {
        const [from, to] = key.split('\u0000');
        const pair = counts.get(key) ?? { from, to, count: 0, parts: [] };
        const back = (levels[to] ?? Infinity) <= (levels[from] ?? Infinity);
        return { source: from, target: to, count: pair.count, designed: designed.has(key), back, tooltip: pairTooltip(pair, name) };
      })
      .filter((e) => known.has(e.source) && known.has(e.target));
    graphChart(this.graph, mapNodes, mapEdges, open);
  }
}
