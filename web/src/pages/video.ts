// The page of one interactive video: header, period and comparison, filters,
// then the panels. Every control changes the URL; the panels follow it.

import { ApiError, getJson, type Report, type Video } from '../api';
import { fill, h, icon, ICONS } from '../dom';
import { formatInteger, formatPeriod } from '../format';
import { exportZip } from '../export';
import { loadCharts } from '../lazy';
import { BreakdownPanel } from '../panels/breakdown';
import { FilterBar } from '../panels/filters';
import { MetricsPanel } from '../panels/metrics';
import { NodePanel } from '../panels/node';
import { NodesPanel } from '../panels/nodes';
import { PathsPanel } from '../panels/paths';
import { PerformancePanel } from '../panels/performance';
import { browserZone, COMPARES, parseState, PRESETS, stateQuery, videoUrl, type ViewState } from '../state';
import { THEME_EVENT } from '../theme';
import { errorMessage, Loader, toast } from '../ui';

/** What every panel is given. */
export interface Context {
  state: ViewState;
  video: Video | null;
  /** The video, once its first load has arrived. */
  videoLoaded: Promise<Video>;
  /** Changes the view (and the URL); `replace` keeps the history entry. */
  set(patch: Partial<ViewState>, options?: { replace?: boolean; focus?: string }): void;
  nodeName(id: string): string;
  hotspotLabel(id: string): string;
  /** The period of the last totals report, once known. */
  period: Report['period'] | null;
  comparison: Report['comparison'];
}

export interface PanelView {
  readonly element: HTMLElement;
  update(context: Context): void;
  redraw?(): void;
}

let zones: string[] | null = null;
function timeZones(): string[] {
  if (!zones) {
    let list: string[] = [];
    try {
      list = (Intl as unknown as { supportedValuesOf(k: string): string[] }).supportedValuesOf('timeZone');
    } catch {
      list = [];
    }
    zones = [...new Set(['UTC', browserZone(), ...list])].sort((a, b) => (a === 'UTC' ? -1 : b === 'UTC' ? 1 : a.localeCompare(b)));
  }
  return zones;
}

export class VideoPage {
  readonly element: HTMLElement;
  private state: ViewState;
  private video: Video | null = null;
  private videoLoader = new Loader<Video>();
  private videoArrived!: (video: Video) => void;
  private readonly videoLoaded = new Promise<Video>((resolve) => {
    this.videoArrived = resolve;
  });
  private period: Report['period'] | null = null;
  private comparison: Report['comparison'] = null;

  private readonly name = h('h1', { id: 'video-name' }, '');
  private readonly meta = h('p', { class: 'video-meta muted' });
  private readonly periodLine = h('p', { class: 'period-line', id: 'period-line', 'aria-live': 'polite' });
  private readonly range = h('select', { id: 'range', name: 'range' });
  private readonly from = h('input', { type: 'date', id: 'from', 'aria-label': 'First day' });
  private readonly to = h('input', { type: 'date', id: 'to', 'aria-label': 'Last day' });
  private readonly customRange: HTMLElement;
  private readonly compare = h('select', { id: 'compare', name: 'compare' });
  private readonly compareStart = h('input', { type: 'date', id: 'compare-start', 'aria-label': 'Start of the comparison period' });
  private readonly customCompare: HTMLElement;
  private readonly tz = h('select', { id: 'tz', name: 'tz' });
  private readonly exportButton: HTMLButtonElement;
  private readonly panels: PanelView[];
  private readonly metrics: MetricsPanel;
  private readonly nodePanel: NodePanel;
  private readonly filters = new FilterBar();
  /** The page's own children, put back after an error page. */
  private readonly content: Node[];
  private failed = false;

  constructor(
    readonly videoId: string,
    private readonly go: (url: string, replace?: boolean) => void,
  ) {
    this.state = parseState(videoId, '');
    // Charts load while the first reports are computed.
    void loadCharts();
    for (const [value, label] of PRESETS) this.range.append(h('option', { value }, label));
    for (const [value, label] of COMPARES) this.compare.append(h('option', { value }, label));
    this.range.addEventListener('change', () => {
      if (this.range.value === 'custom') {
        this.customRange.hidden = false;
        if (this.period) {
          this.from.value ||= this.period.from;
          this.to.value ||= this.period.to;
        }
        this.from.focus();
      } else {
        this.set({ range: this.range.value, from: '', to: '' });
      }
    });
    this.compare.addEventListener('change', () => {
      if (this.compare.value === 'custom') {
        this.customCompare.hidden = false;
        this.compareStart.focus();
      } else {
        this.set({ compare: this.compare.value });
      }
    });
    this.tz.addEventListener('change', () => this.set({ tz: this.tz.value }));
    this.customRange = h(
      'form',
      {
        class: 'inline-form',
        hidden: true,
        onsubmit: (event: SubmitEvent) => {
          event.preventDefault();
          if (!this.from.value || !this.to.value) return;
          if (this.from.value > this.to.value) {
            toast('The first day must not be after the last day.', 'error');
            return;
          }
          this.set({ range: 'custom', from: this.from.value, to: this.to.value });
        },
      },
      this.from,
      h('span', { 'aria-hidden': 'true' }, '–'),
      this.to,
      h('button', { type: 'submit', class: 'btn btn-small' }, 'Apply'),
    );
    this.customCompare = h(
      'form',
      {
        class: 'inline-form',
        hidden: true,
        onsubmit: (event: SubmitEvent) => {
          event.preventDefault();
          if (this.compareStart.value) this.set({ compare: this.compareStart.value });
        },
      },
      this.compareStart,
      h('button', { type: 'submit', class: 'btn btn-small' }, 'Apply'),
    );
    this.exportButton = h(
      'button',
      { type: 'button', class: 'btn', id: 'export-zip', onclick: () => this.exportAll() },
      icon(ICONS.download),
      'Export ZIP',
    );

    this.metrics = new MetricsPanel(
      (report) => this.onTotals(report),
      (error) => void this.pageError(error),
    );
    this.nodePanel = new NodePanel();
    this.panels = [this.filters, this.metrics, new PerformancePanel(), new BreakdownPanel(), new NodesPanel(), this.nodePanel, new PathsPanel()];

    this.element = h(
      'div',
      { class: 'page page-video' },
      h(
        'div',
        { class: 'page-head' },
        h('a', { href: '/', class: 'back-link' }, icon(ICONS.back), 'All videos'),
        h('div', { class: 'title-row' }, h('div', null, this.name, this.meta), this.exportButton),
      ),
      h(
        'div',
        { class: 'controls', role: 'group', 'aria-label': 'Period, comparison and time zone' },
        h('div', { class: 'control' }, h('label', { for: 'range' }, 'Date range'), h('div', { class: 'control-row' }, this.range, this.customRange)),
        h('div', { class: 'control' }, h('label', { for: 'compare' }, 'Compare to'), h('div', { class: 'control-row' }, this.compare, this.customCompare)),
        h('div', { class: 'control' }, h('label', { for: 'tz' }, 'Time zone'), this.tz),
      ),
      this.periodLine,
      ...this.panels.map((p) => p.element),
    );
    this.content = [...this.element.childNodes];
    window.addEventListener(THEME_EVENT, () => {
      if (this.element.isConnected) for (const panel of this.panels) panel.redraw?.();
    });
  }

  /** Shows the view a query string describes. */
  show(search: string): void {
    if (this.failed) {
      this.failed = false;
      fill(this.element, ...this.content);
    }
    const state = parseState(this.videoId, search);
    // A link without a zone gets the reader's, written into the URL so that
    // copying it reproduces the same days.
    const canonical = `?${stateQuery(state)}`;
    if (search !== canonical) history.replaceState(null, '', videoUrl(state));
    this.state = state;
    this.loadVideo();
    this.syncControls();
    this.updatePanels();
  }

  private loadVideo(): void {
    this.videoLoader.run('video', (signal) => getJson<Video>(`/api/v1/videos/${encodeURIComponent(this.videoId)}`, undefined, signal), {
      start: () => {},
      done: (video) => {
        this.video = video;
        this.videoArrived(video);
        this.showHeader();
        this.updatePanels();
      },
      fail: (error) => {
        if (this.pageError(error)) return;
        this.meta.textContent = `Could not load the video: ${errorMessage(error)}`;
        this.meta.classList.add('form-error');
      },
    });
    this.showHeader();
  }

  /**
   * An unknown video or a setting of the address the server refuses is one
   * message for the whole page, with the way out, rather than a red box in
   * every panel. Returns whether `error` was such a one.
   */
  private pageError(error: unknown): boolean {
    if (!(error instanceof ApiError) || this.failed) return this.failed;
    const unknown = error.status === 404;
    const refused = error.status === 400 && error.code === 'invalid_parameter';
    if (!unknown && !refused) return false;
    this.failed = true;
    document.title = unknown ? 'No such video · pathlens' : 'Settings refused · pathlens';
    fill(
      this.element,
      h(
        'div',
        { class: 'page-error', role: 'alert' },
        h('h1', null, unknown ? 'No such video' : 'This address has a setting the server refused'),
        h(
          'p',
          null,
          unknown ? `There is no interactive video “${this.videoId}” for this account. ` : 'The server answered: ',
          h('span', { class: 'error-message' }, unknown ? '' : errorMessage(error)),
        ),
        h(
          'div',
          { class: 'page-error-actions' },
          unknown
            ? h('a', { href: '/', class: 'btn' }, icon(ICONS.back), 'All videos')
            : h('button', { type: 'button', class: 'btn', id: 'reset-settings', onclick: () => this.go(`/videos/${encodeURIComponent(this.videoId)}`) }, 'Reset the settings'),
          unknown ? null : h('a', { href: '/', class: 'btn' }, 'All videos'),
        ),
      ),
    );
    return true;
  }

  private showHeader(): void {
    const video = this.video;
    const name = video?.name || this.metrics.videoName || this.videoId;
    this.name.textContent = name;
    document.title = `${name} · pathlens`;
    if (video) {
      const live = video.graph.nodes.filter((n) => !n.deleted_at).length;
      const removed = video.graph.nodes.length - live;
      fill(
        this.meta,
        video.owner ? [h('span', null, 'Owner: ', h('strong', null, video.owner)), ' · '] : null,
        h('span', null, 'id ', h('code', null, video.id)),
        ' · ',
        `${formatInteger(live)} nodes`,
        removed ? ` (+${formatInteger(removed)} removed)` : '',
        ' · ',
        `${formatInteger(video.end_nodes.length)} end nodes`,
      );
    }
  }

  private syncControls(): void {
    const s = this.state;
    this.range.value = s.range;
    this.customRange.hidden = s.range !== 'custom';
    if (s.range === 'custom') {
      this.from.value = s.from;
      this.to.value = s.to;
    }
    const customCompare = /^\d{4}-/.test(s.compare);
    this.compare.value = customCompare ? 'custom' : s.compare;
    this.customCompare.hidden = !customCompare;
    if (customCompare) this.compareStart.value = s.compare;
    if (this.tz.options.length === 0 || ![...this.tz.options].some((o) => o.value === s.tz)) {
      const list = timeZones();
      fill(this.tz, (list.includes(s.tz) ? list : [s.tz, ...list]).map((zone) => h('option', { value: zone }, zone.replaceAll('_', ' '))));
    }
    this.tz.value = s.tz;
  }

  private context(): Context {
    return {
      state: this.state,
      video: this.video,
      videoLoaded: this.videoLoaded,
      set: (patch, options) => this.set(patch, options),
      nodeName: (id) => this.video?.graph.nodes.find((n) => n.id === id)?.name ?? id,
      hotspotLabel: (id) => {
        for (const node of this.video?.graph.nodes ?? []) {
          const hotspot = node.hotspots?.find((x) => x.id === id);
          if (hotspot) return hotspot.label || id;
        }
        return id;
      },
      period: this.period,
      comparison: this.comparison,
    };
  }

  private updatePanels(): void {
    const context = this.context();
    // Every panel asks for its report at once (the top metrics first): the
    // server answers them side by side.
    for (const panel of this.panels) panel.update(context);
  }

  private set(patch: Partial<ViewState>, options: { replace?: boolean; focus?: string } = {}): void {
    const next = { ...this.state, ...patch };
    // A new period, zone or filter starts the viewer list on its first page.
    const changesRows = ['range', 'from', 'to', 'tz', 'compare', 'filters', 'viewer', 'vsort', 'vorder'].some((k) => k in patch);
    if (changesRows && !('vpage' in patch)) next.vpage = 1;
    if (changesRows && !('bpage' in patch)) next.bpage = 1;
    this.go(videoUrl(next), options.replace);
    if (options.focus) {
      const target = document.getElementById(options.focus);
      if (target) {
        target.scrollIntoView({ behavior: 'smooth', block: 'start' });
        target.focus({ preventScroll: true });
      }
    }
  }

  private onTotals(report: Report): void {
    this.period = report.period;
    this.comparison = report.comparison;
    if (report.notes?.[0]) this.filters.setNote(report.notes[0]);
    if (!this.video) this.showHeader();
    const text = [`${formatPeriod(report.period.from, report.period.to)} (${formatInteger(report.period.days)} days)`];
    if (report.comparison) text.push(`compared with ${formatPeriod(report.comparison.from, report.comparison.to)}`);
    text.push(report.tz.replaceAll('_', ' '));
    this.periodLine.textContent = text.join(' · ');
    // Panels that show the comparison's dates learn them now.
    this.updatePanels();
  }

  private async exportAll(): Promise<void> {
    this.exportButton.disabled = true;
    const label = this.exportButton.lastChild!;
    label.textContent = 'Preparing…';
    try {
      await exportZip(this.state, this.period);
    } catch (error) {
      toast(`Export failed: ${errorMessage(error)}`, 'error');
    } finally {
      this.exportButton.disabled = false;
      label.textContent = 'Export ZIP';
    }
  }
}
