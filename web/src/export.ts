// The whole page as one ZIP of the API's CSVs: every panel with the page's
// period, comparison and filters, so each file equals the API's answer.

import { zipFiles } from './zip';
import { report, reportCsv } from './api';
import { panelParams, withParams, type ViewState } from './state';
import { saveFile } from './ui';
import { breakdownExports } from './panels/breakdown';

export interface ExportItem {
  file: string;
  kind: string;
  params: URLSearchParams;
}

/** The CSVs the page consists of, in its current state. */
export async function exportItems(state: ViewState): Promise<ExportItem[]> {
  const p = panelParams(state);
  const items: ExportItem[] = [
    { file: 'totals.csv', kind: 'totals', params: p.totals },
    { file: `timeseries-by-${state.interval}.csv`, kind: 'timeseries', params: p.timeseries },
    { file: 'viewers.csv', kind: 'viewers', params: withParams(p.viewers, { page: 1, page_size: 10000 }) },
    { file: 'nodes.csv', kind: 'nodes', params: p.nodes },
    { file: 'transitions.csv', kind: 'transitions', params: p.transitions },
    ...breakdownExports(state),
  ];
  if (state.node) {
    const safe = state.node.replace(/[^\w.-]+/g, '_');
    items.push({ file: `node-${safe}-hotspots.csv`, kind: 'node', params: p.node(state.node) });
    items.push({ file: `node-${safe}-curve.csv`, kind: 'curve', params: p.curve(state.node) });
    const hotspots = await report(state.video, 'node', p.node(state.node));
    for (const row of hotspots.rows) {
      const id = String(row.hotspot_id);
      items.push({ file: `node-${safe}-heatmap-${id.replace(/[^\w.-]+/g, '_')}.csv`, kind: 'heatmap', params: p.heatmap(id) });
    }
  }
  return items;
}

export async function exportZip(state: ViewState, period: { from: string; to: string } | null): Promise<void> {
  const items = await exportItems(state);
  const files = await Promise.all(items.map(async (item) => ({ name: item.file, text: (await reportCsv(state.video, item.kind, item.params)).text })));
  const blob = await zipFiles(files);
  const span = period ? `${period.from}_${period.to}` : state.range;
  saveFile(`${state.video.replace(/[^\w.-]+/g, '_')}-${span}.zip`, blob);
}
