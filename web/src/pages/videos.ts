// The partner's interactive videos, with plays over the last 30 days: the
// same local days, in the browser's zone, that a video's dashboard opens on.

import { getJson, type VideoList, type VideoSummary } from '../api';
import { fill, h, icon, ICONS } from '../dom';
import { formatInstantDay, formatInteger } from '../format';
import { browserZone } from '../state';
import { emptyState, errorBox, Loader } from '../ui';

export class VideoListPage {
  readonly element: HTMLElement;
  private readonly body = h('div', { class: 'panel-body' });
  private readonly search: HTMLInputElement;
  private readonly count = h('p', { class: 'panel-subtitle', role: 'status' });
  private readonly loader = new Loader<VideoSummary[]>();

  constructor() {
    this.search = h('input', {
      type: 'search',
      id: 'video-search',
      placeholder: 'Search by name, id or owner',
      'aria-label': 'Search videos',
      oninput: () => this.render(),
    });
    this.element = h(
      'div',
      { class: 'page page-videos' },
      h('div', { class: 'page-head' }, h('h1', null, 'Interactive videos'), h('p', { class: 'muted' }, 'Choose a video to see its analytics.')),
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'videos-title' },
        h('header', { class: 'panel-head' }, h('div', { class: 'panel-titles' }, h('h2', { id: 'videos-title' }, 'Videos'), this.count), h('label', { class: 'search' }, icon(ICONS.search), this.search)),
        this.body,
      ),
    );
  }

  show(): void {
    document.title = 'Videos · pathlens';
    this.load(false);
  }

  private load(force: boolean): void {
    const fetch = (signal: AbortSignal) => getJson<VideoList>('/api/v1/videos', new URLSearchParams({ tz: browserZone() }), signal).then((r) => r.videos);
    const on = {
      start: () => fill(this.body, h('p', { class: 'loading-line' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading videos…')),
      done: () => this.render(),
      fail: (error: unknown) => fill(this.body, errorBox(error, () => this.load(true))),
    };
    if (force) this.loader.reload('videos', fetch, on);
    else this.loader.run('videos', fetch, on);
  }

  private render(): void {
    const videos = this.loader.value;
    if (!videos) return;
    if (videos.length === 0) {
      this.count.textContent = '';
      fill(this.body, emptyState('No interactive videos yet', ['Add one with ', h('code', null, 'pathlens videos add path.json --id ID --name NAME'), ', or run ', h('code', null, 'pathlens demo'), ' for sample data.']));
      return;
    }
    const words = this.search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = videos
      .filter((v) => words.every((w) => `${v.name} ${v.id} ${v.owner}`.toLowerCase().includes(w)))
      .sort((a, b) => b.plays_30d - a.plays_30d || a.name.localeCompare(b.name));
    this.count.textContent = words.length ? `${shown.length} of ${videos.length} videos` : `${videos.length} videos · plays over the last 30 days`;
    if (shown.length === 0) {
      fill(this.body, emptyState('No video matches your search', `Nothing has “${this.search.value.trim()}” in its name, id or owner.`, { label: 'Clear the search', run: () => { this.search.value = ''; this.render(); this.search.focus(); } }));
      return;
    }
    fill(
      this.body,
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'data', id: 'videos-table' },
          h('caption', { class: 'visually-hidden' }, 'Interactive videos'),
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Video'), h('th', { scope: 'col' }, 'Owner'), h('th', { scope: 'col', class: 'num' }, 'Nodes'), h('th', { scope: 'col', class: 'num' }, 'Plays (30 days)'), h('th', { scope: 'col', class: 'num' }, 'Updated'))),
          h(
            'tbody',
            null,
            shown.map((v) =>
              h(
                'tr',
                { 'data-video': v.id },
                h('th', { scope: 'row' }, h('a', { href: `/videos/${encodeURIComponent(v.id)}`, class: 'video-link' }, v.name || v.id), h('span', { class: 'muted id' }, v.id)),
                h('td', null, v.owner || '—'),
                h('td', { class: 'num' }, formatInteger(v.nodes)),
                h('td', { class: 'num', 'data-col': 'plays_30d' }, formatInteger(v.plays_30d)),
                h('td', { class: 'num' }, formatInstantDay(v.updated_at)),
              ),
            ),
          ),
        ),
      ),
    );
  }
}
