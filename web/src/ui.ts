// Building blocks every panel shares: the panel frame with its loading,
// empty and error states, data tables, CSV buttons, downloads and notices.

import { ApiError, reportCsv, type ColumnType, type Row } from './api';
import { type Child, fill, h, icon, ICONS } from './dom';
import { changeTone, formatChange, formatValue } from './format';

/** Loads data for a panel; a newer request cancels the older one, and a
 * request identical to the last one is not repeated. */
export class Loader<T> {
  private key: string | null = null;
  private controller: AbortController | null = null;
  value: T | null = null;

  /** Loads unless `key` is what was last loaded (or is loading). */
  run(key: string, fetch: (signal: AbortSignal) => Promise<T>, on: { start: () => void; done: (value: T) => void; fail: (error: unknown) => void }): void {
    if (key === this.key) return;
    this.reload(key, fetch, on);
  }

  reload(key: string, fetch: (signal: AbortSignal) => Promise<T>, on: { start: () => void; done: (value: T) => void; fail: (error: unknown) => void }): void {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.key = key;
    on.start();
    fetch(controller.signal).then(
      (value) => {
        if (controller.signal.aborted) return;
        this.value = value;
        on.done(value);
      },
      (error) => {
        if (controller.signal.aborted) return;
        this.key = null;
        on.fail(error);
      },
    );
  }

  forget(): void {
    this.controller?.abort();
    this.key = null;
    this.value = null;
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** A titled section of the page with actions, a body and a status line. */
export class Panel {
  readonly element: HTMLElement;
  readonly actions: HTMLElement;
  readonly body: HTMLElement;
  private readonly status: HTMLElement;
  readonly title: HTMLElement;
  readonly subtitle: HTMLElement;

  constructor(id: string, title: string, subtitle = '') {
    this.title = h('h2', { id: `${id}-title` }, title);
    this.subtitle = h('p', { class: 'panel-subtitle' }, subtitle);
    this.actions = h('div', { class: 'panel-actions' });
    this.status = h('span', { class: 'panel-status', role: 'status', 'aria-live': 'polite' });
    this.body = h('div', { class: 'panel-body' });
    this.element = h(
      'section',
      { class: 'panel', id, 'aria-labelledby': `${id}-title` },
      h('header', { class: 'panel-head' }, h('div', { class: 'panel-titles' }, this.title, this.subtitle), this.status, this.actions),
      this.body,
    );
  }

  loading(on: boolean): void {
    this.element.classList.toggle('is-loading', on);
    this.element.setAttribute('aria-busy', String(on));
    fill(this.status, on ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : null, on ? 'Loading…' : '');
  }

  /** Shows the API's message, with a way to try again. */
  error(error: unknown, retry: () => void): void {
    this.loading(false);
    fill(this.body, errorBox(error, retry));
  }
}

export function errorBox(error: unknown, retry?: () => void): HTMLElement {
  const code = error instanceof ApiError ? error.code : '';
  return h(
    'div',
    { class: 'notice notice-error', role: 'alert' },
    h('strong', null, 'Could not load this panel. '),
    h('span', { class: 'error-message' }, errorMessage(error)),
    code ? h('span', { class: 'error-code' }, ` (${code})`) : null,
    retry ? h('button', { type: 'button', class: 'btn btn-small', onclick: retry }, 'Try again') : null,
  );
}

/** An explanation in place of data that is not there. */
export function emptyState(title: string, detail: Child, action?: { label: string; run: () => void }): HTMLElement {
  return h(
    'div',
    { class: 'empty' },
    h('p', { class: 'empty-title' }, title),
    h('p', { class: 'empty-detail' }, detail),
    action ? h('button', { type: 'button', class: 'btn btn-small', onclick: action.run }, action.label) : null,
  );
}

// ---------------------------------------------------------------------------
// Downloads

const announcer = h('div', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
const toasts = h('div', { class: 'toasts', 'aria-live': 'assertive' });
document.body.append(announcer, toasts);

export function announce(text: string): void {
  announcer.textContent = text;
}

export function toast(text: string, kind: 'error' | 'info' = 'info'): void {
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text, h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Dismiss', onclick: () => item.remove() }, icon(ICONS.close)));
  toasts.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 10000 : 4000);
}

export function saveFile(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  announce(`Downloaded ${name}`);
}

/** A button that downloads a report as the API's CSV. */
export function csvButton(label: string, what: () => { video: string; kind: string; params: URLSearchParams }, describedBy?: string): HTMLButtonElement {
  return csvDownloadButton(
    label,
    () => {
      const { video, kind, params } = what();
      return reportCsv(video, kind, params);
    },
    describedBy,
  );
}

/** A button that downloads the CSV `load` gives (a name and its text). */
export function csvDownloadButton(label: string, load: () => Promise<{ name: string; text: string }>, describedBy?: string): HTMLButtonElement {
  const button = h(
    'button',
    {
      type: 'button',
      class: 'btn btn-small btn-ghost',
      'data-csv': '',
      'aria-describedby': describedBy,
      title: `Download ${label} as CSV`,
      onclick: async () => {
        button.disabled = true;
        button.classList.add('is-busy');
        try {
          const csv = await load();
          saveFile(csv.name, new Blob([csv.text], { type: 'text/csv;charset=utf-8' }));
        } catch (error) {
          toast(`CSV export failed: ${errorMessage(error)}`, 'error');
        } finally {
          button.disabled = false;
          button.classList.remove('is-busy');
        }
      },
    },
    icon(ICONS.download),
    h('span', null, 'CSV'),
    h('span', { class: 'visually-hidden' }, ` of ${label}`),
  );
  return button;
}

// ---------------------------------------------------------------------------
// Tables

export interface TableColumn {
  key: string;
  label: string;
  type: ColumnType;
  /** Sortable by the API's `sort` parameter. */
  sortable?: boolean;
  /** Shows `<key>_change` under the value when the report compares. */
  compared?: boolean;
  render?: (row: Row) => Child;
  className?: string;
}

export interface TableSpec {
  caption: string;
  columns: TableColumn[];
  rows: Row[];
  comparing?: boolean;
  sort?: { key: string; order: 'asc' | 'desc'; change: (key: string, order: 'asc' | 'desc') => void };
  /** Opens a row; the cell of `column` gets a button so keyboards can too. */
  open?: { column: string; label: (row: Row) => string; run: (row: Row) => void };
  selected?: (row: Row) => boolean;
  rowId?: (row: Row) => string;
}

export function cell(value: unknown, type: ColumnType): string {
  return formatValue(value, type);
}

/**
 * A change with its arrow, coloured by what it means for `key` (drop-offs
 * rising is bad news, plays rising good).
 */
export function changeBadge(change: unknown, previous: unknown, type: ColumnType, key = ''): HTMLElement {
  const text = formatChange(change, previous);
  const direction = typeof change === 'number' && previous !== 0 ? (change > 0.0005 ? 'up' : change < -0.0005 ? 'down' : 'flat') : 'none';
  const tone = direction === 'none' ? 'none' : changeTone(key, change);
  return h(
    'span',
    { class: `change change-${direction} change-${tone}`, title: `previous period: ${formatValue(previous, type)}` },
    direction === 'up' ? '▲ ' : direction === 'down' ? '▼ ' : '',
    text,
  );
}

export function dataTable(spec: TableSpec): HTMLElement {
  const numeric = (c: TableColumn) => c.type !== 'text';
  const head = h(
    'tr',
    null,
    spec.columns.map((column) => {
      const classes = [numeric(column) ? 'num' : '', column.className ?? ''].join(' ').trim();
      if (!spec.sort || !column.sortable) return h('th', { scope: 'col', class: classes }, column.label);
      const active = spec.sort.key === column.key;
      const next: 'asc' | 'desc' = active ? (spec.sort.order === 'desc' ? 'asc' : 'desc') : numeric(column) ? 'desc' : 'asc';
      return h(
        'th',
        { scope: 'col', class: classes, 'aria-sort': active ? (spec.sort.order === 'desc' ? 'descending' : 'ascending') : 'none' },
        h(
          'button',
          { type: 'button', class: 'sort', 'data-sort': column.key, onclick: () => spec.sort!.change(column.key, next) },
          column.label,
          h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, active ? (spec.sort.order === 'desc' ? '▼' : '▲') : '↕'),
        ),
      );
    }),
  );
  const body = h(
    'tbody',
    null,
    spec.rows.map((row) => {
      const tr = h(
        'tr',
        {
          class: [spec.open ? 'clickable' : '', spec.selected?.(row) ? 'selected' : ''].join(' ').trim() || undefined,
          'data-row': spec.rowId?.(row),
          onclick: spec.open
            ? (event: MouseEvent) => {
                if ((event.target as HTMLElement).closest('a,button')) return;
                spec.open!.run(row);
              }
            : undefined,
        },
        spec.columns.map((column, index) => {
          const classes = [numeric(column) ? 'num' : '', column.className ?? ''].join(' ').trim() || undefined;
          let content: Child = column.render ? column.render(row) : cell(row[column.key], column.type);
          if (spec.open && column.key === spec.open.column) {
            content = h('button', { type: 'button', class: 'link-btn', title: spec.open.label(row), onclick: () => spec.open!.run(row) }, content);
          }
          const compare = spec.comparing && column.compared ? changeBadge(row[`${column.key}_change`], row[`${column.key}_previous`], column.type, column.key) : null;
          return h(index === 0 ? 'th' : 'td', { class: classes, scope: index === 0 ? 'row' : undefined, 'data-col': column.key, 'data-label': column.label }, content, compare);
        }),
      );
      return tr;
    }),
  );
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': spec.caption }, h('table', { class: 'data' }, h('caption', { class: 'visually-hidden' }, spec.caption), h('thead', null, head), body));
}

/** Escapes text for the HTML of chart tooltips. */
export function esc(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
