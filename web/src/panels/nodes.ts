// Videos overview: one row per node of the path, removed nodes included,
// sortable by any column; a row opens the node's drill-down.

import { report, type Report, type Row } from '../api';
import { fill, h } from '../dom';
import { formatInstantDay, formatValue } from '../format';
import { panelParams } from '../state';
import type { Context, PanelView } from '../pages/video';
import { csvButton, dataTable, Loader, Panel, type TableColumn } from '../ui';

export function nodeTags(row: { start_node?: unknown; deleted_at?: unknown }, end: boolean): HTMLElement[] {
  const tags: HTMLElement[] = [];
  if (row.start_node === true) tags.push(h('span', { class: 'tag tag-start', title: 'The path starts here' }, 'Start'));
  if (end) tags.push(h('span', { class: 'tag tag-end', title: 'An end node: no hotspot leads on' }, 'End'));
  if (typeof row.deleted_at === 'string') tags.push(h('span', { class: 'tag tag-deleted', title: `Removed from the path on ${formatInstantDay(row.deleted_at)}` }, `Deleted ${formatInstantDay(row.deleted_at)}`));
  return tags;
}

export class NodesPanel implements PanelView {
  readonly element: HTMLElement;
  private readonly panel = new Panel('nodes', 'Videos overview', 'Every node of the path, including nodes not played yet and removed ones. Select a node to see its hotspots and viewing curve.');
  private readonly loader = new Loader<Report>();
  private context: Context | null = null;

  constructor() {
    this.element = this.panel.element;
    fill(this.panel.body, h('p', { class: 'loading-line' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading the nodes…'));
    this.panel.actions.append(
      csvButton('the videos overview', () => {
        const state = this.context!.state;
        return { video: state.video, kind: 'nodes', params: panelParams(state).nodes };
      }),
    );
  }

  update(context: Context): void {
    this.context = context;
    const params = panelParams(context.state).nodes;
    this.loader.run(params.toString(), (signal) => report(context.state.video, 'nodes', params, signal), {
      start: () => this.panel.loading(true),
      done: () => {
        this.panel.loading(false);
        this.render();
      },
      fail: (error) =>
        this.panel.error(error, () => {
          this.loader.forget();
          this.update(context);
        }),
    });
    if (this.loader.value) this.render();
  }

  private render(): void {
    const data = this.loader.value;
    const context = this.context;
    if (!data || !context) return;
    const state = context.state;
    const ends = new Set(context.video?.end_nodes ?? []);
    const type = (key: string) => data.columns.find((c) => c.key === key)?.type ?? 'number';
    const metric = (key: string, label: string): TableColumn => ({ key, label, type: type(key), sortable: true, compared: true });
    const columns: TableColumn[] = [
      { key: 'level', label: 'Level', type: 'integer', sortable: true, render: (row: Row) => formatValue(row.level, 'integer') },
      {
        key: 'name',
        label: 'Node',
        type: 'text',
        sortable: true,
        className: 'node-cell',
        render: (row: Row) => [h('span', { class: 'node-name' }, String(row.name || row.node_id)), ...nodeTags(row, ends.has(String(row.node_id)))],
      },
      metric('plays', 'Plays'),
      metric('unique_viewers', 'Unique Viewers'),
      metric('minutes_viewed', 'Minutes Viewed'),
      metric('completion_rate', 'Completion Rate'),
      metric('dropoffs', 'Drop-offs'),
    ];
    fill(
      this.panel.body,
      h(
        'div',
        { class: 'cards-on-phone' },
        dataTable({
        caption: 'Nodes of the path',
        columns,
        rows: data.rows,
        comparing: data.comparison !== null,
        sort: { key: state.sort, order: state.order, change: (key, order) => context.set({ sort: key, order }) },
        open: {
          column: 'name',
          label: (row) => `Open node ${row.name}`,
          run: (row) => context.set({ node: String(row.node_id) }, { focus: 'node' }),
        },
        selected: (row) => row.node_id === state.node,
        rowId: (row) => String(row.node_id),
      }),
      ),
    );
  }
}
