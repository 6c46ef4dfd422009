// Top metrics: the totals report as cards, each with its change against the
// comparison period. A card also picks the metric of the chart below.

import { report, type Report } from '../api';
import { fill, h } from '../dom';
import { formatPeriod, formatValue } from '../format';
import { hasFilters, METRICS, panelParams } from '../state';
import type { Context, PanelView } from '../pages/video';
import { changeBadge, csvButton, emptyState, Loader, Panel } from '../ui';

const HELP: Record<string, string> = {
  impressions: 'Times the player loaded the interactive video',
  plays: 'Times playback started',
  unique_viewers: 'Distinct signed-in viewers among plays; all anonymous viewers count as one',
  minutes_viewed: 'Minutes of playback, summed over every node',
  avg_view_time: 'Minutes viewed per play',
  path_completion_rate: 'Share of played sessions that reached an end node',
};

export class MetricsPanel implements PanelView {
  readonly element: HTMLElement;
  videoName = '';
  private readonly panel = new Panel('metrics', 'Top metrics');
  private readonly loader = new Loader<Report>();
  private readonly cards = h('div', { class: 'metric-grid' });
  private readonly message = h('div', { class: 'metric-message' });
  private context: Context | null = null;

  constructor(
    private readonly onTotals: (report: Report) => void,
    private readonly onFailure: (error: unknown) => void,
  ) {
    this.element = this.panel.element;
    this.panel.actions.append(
      csvButton('the top metrics', () => {
        const state = this.context!.state;
        return { video: state.video, kind: 'totals', params: panelParams(state).totals };
      }),
    );
    fill(
      this.cards,
      METRICS.map(([key, label]) => this.card(key, label)),
    );
    fill(this.panel.body, this.cards, this.message);
  }

  update(context: Context): void {
    this.context = context;
    const params = panelParams(context.state).totals;
    this.loader.run(params.toString(), (signal) => report(context.state.video, 'totals', params, signal), {
      start: () => this.panel.loading(true),
      done: (totals) => {
        this.panel.loading(false);
        this.videoName = totals.video_name;
        this.render(totals);
        performance.mark('pathlens:metrics');
        this.onTotals(totals);
      },
      fail: (error) => {
        this.panel.loading(false);
        fill(this.message);
        this.onFailure(error);
        this.panel.error(error, () => {
          fill(this.panel.body, this.cards, this.message);
          this.loader.forget();
          this.update(context);
        });
      },
    });
    for (const card of this.cards.querySelectorAll<HTMLButtonElement>('.metric')) {
      card.setAttribute('aria-pressed', String(card.dataset.metric === context.state.metric));
    }
  }

  private card(key: string, label: string): HTMLElement {
    return h(
      'button',
      {
        type: 'button',
        class: 'metric',
        'data-metric': key,
        title: `${HELP[key]}. Select to chart it.`,
        onclick: () => this.context?.set({ metric: key }, { replace: true }),
      },
      h('span', { class: 'metric-label' }, label),
      h('span', { class: 'metric-figure' }, h('span', { class: 'metric-value' }, '…'), key === 'avg_view_time' ? h('span', { class: 'metric-unit' }, ' min') : null),
      h('span', { class: 'metric-change' }),
    );
  }

  private render(totals: Report): void {
    if (!this.panel.body.contains(this.cards)) fill(this.panel.body, this.cards, this.message);
    const row = totals.rows[0] ?? {};
    const types = new Map(totals.columns.map((c) => [c.key, c.type]));
    for (const [key] of METRICS) {
      const card = this.cards.querySelector<HTMLElement>(`[data-metric="${key}"]`)!;
      const type = types.get(key) ?? 'number';
      card.querySelector('.metric-value')!.textContent = formatValue(row[key], type);
      const unit = card.querySelector<HTMLElement>('.metric-unit');
      if (unit) unit.hidden = typeof row[key] !== 'number';
      const change = card.querySelector<HTMLElement>('.metric-change')!;
      if (totals.comparison) {
        const previous = row[`${key}_previous`];
        fill(change, changeBadge(row[`${key}_change`], previous, type, key), h('span', { class: 'muted metric-previous' }, ` vs ${formatValue(previous, type)}`));
        change.title = `${formatPeriod(totals.comparison.from, totals.comparison.to)}: ${formatValue(previous, type)}`;
      } else {
        fill(change, h('span', { class: 'muted' }, 'no comparison'));
        change.title = '';
      }
    }
    const state = this.context!.state;
    const nothing = !row.impressions && !row.plays;
    if (!nothing) {
      // Said in words, so "new" against zeros is not taken for growth.
      const comparedEmpty = totals.comparison && !row.impressions_previous && !row.plays_previous;
      fill(
        this.message,
        comparedEmpty
          ? h(
              'p',
              { class: 'muted comparison-empty' },
              `No data in the comparison period (${formatPeriod(totals.comparison!.from, totals.comparison!.to)}): there is nothing to compare with, so changes show as “new”.`,
            )
          : null,
      );
      return;
    }
    const period = formatPeriod(totals.period.from, totals.period.to);
    fill(
      this.message,
      hasFilters(state)
        ? emptyState('No viewer matches these filters', `Nothing was loaded or played between ${period} by viewers matching every filter. Remove a filter to see more.`, {
            label: 'Clear all filters',
            run: () => this.context?.set({ filters: {}, viewer: '' }),
          })
        : emptyState('No data in this period', `The player was not loaded between ${period}. Choose a longer date range, or check that players send events to this server.`, {
            label: 'Show the last 90 days',
            run: () => this.context?.set({ range: 'last_90_days', from: '', to: '' }),
          }),
    );
  }
}
