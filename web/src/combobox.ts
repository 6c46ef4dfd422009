// A text input with a list of suggestions under it (the ARIA combobox
// pattern): typing narrows the list by value or name, arrow keys move
// through it, Enter or a click takes a value. Several values can be typed
// separated by commas; the list suggests the one being typed.

import { fill, h } from './dom';

export interface Suggestion {
  value: string;
  /** What the value is called, when that is not the value itself. */
  label?: string;
  /** A figure beside it, such as its plays in the period. */
  detail?: string;
}

let instances = 0;

export class Combobox {
  readonly element: HTMLElement;
  readonly input: HTMLInputElement;
  private readonly list: HTMLUListElement;
  private options: Suggestion[] = [];
  private heading = '';
  private shown: Suggestion[] = [];
  private active = -1;
  private readonly prefix = `combo-${(instances += 1)}`;

  constructor(attrs: { id: string; label: string; placeholder: string; listId: string }) {
    this.input = h('input', {
      id: attrs.id,
      type: 'text',
      required: true,
      autocomplete: 'off',
      spellcheck: 'false',
      role: 'combobox',
      'aria-label': attrs.label,
      'aria-autocomplete': 'list',
      'aria-expanded': 'false',
      'aria-controls': attrs.listId,
      placeholder: attrs.placeholder,
      oninput: () => this.open(),
      onfocus: () => this.open(),
      onclick: () => this.open(),
      onblur: () => setTimeout(() => this.close(), 120),
      onkeydown: (event: KeyboardEvent) => this.key(event),
    });
    this.list = h('ul', { id: attrs.listId, class: 'combo-list', role: 'listbox', 'aria-label': `${attrs.label} suggestions`, hidden: true });
    this.element = h('span', { class: 'combo' }, this.input, this.list);
  }

  /** The suggestions, most relevant first, and a line said above them. */
  setOptions(options: Suggestion[], heading = ''): void {
    this.options = options;
    this.heading = heading;
    if (!this.list.hidden || document.activeElement === this.input) this.open();
  }

  /** The value of the suggestion whose value or name is `text` (any
   * case), or nothing. */
  resolve(text: string): string | undefined {
    const wanted = text.trim().toLowerCase();
    return (this.options.find((o) => o.value.toLowerCase() === wanted) ?? this.options.find((o) => (o.label ?? '').toLowerCase() === wanted))?.value;
  }

  private segments(): { done: string[]; current: string } {
    const parts = this.input.value.split(',');
    const current = parts.pop() ?? '';
    return { done: parts.map((p) => p.trim().toLowerCase()).filter(Boolean), current: current.trim().toLowerCase() };
  }

  private open(): void {
    const { done, current } = this.segments();
    const taken = new Set(done);
    const matches = this.options.filter((o) => !taken.has(o.value.toLowerCase()) && (!current || o.value.toLowerCase().includes(current) || (o.label ?? '').toLowerCase().includes(current)));
    // What starts with the typed text before what merely contains it.
    const starts = (o: Suggestion) => o.value.toLowerCase().startsWith(current) || (o.label ?? '').toLowerCase().startsWith(current);
    this.shown = current ? [...matches.filter(starts), ...matches.filter((o) => !starts(o))] : matches;
    this.active = -1;
    this.input.removeAttribute('aria-activedescendant');
    if (this.shown.length === 0 && !this.heading) {
      this.close();
      return;
    }
    fill(
      this.list,
      this.heading ? h('li', { class: 'combo-heading', role: 'presentation' }, this.heading) : null,
      this.shown.map((option, index) =>
        h(
          'li',
          {
            id: `${this.prefix}-${index}`,
            role: 'option',
            class: 'combo-option',
            'aria-selected': 'false',
            'data-value': option.value,
            onmousedown: (event: MouseEvent) => {
              event.preventDefault();
              this.pick(option);
            },
          },
          h('span', { class: 'combo-name' }, option.label ?? option.value),
          option.label && option.label !== option.value ? h('code', { class: 'combo-code' }, option.value) : null,
          option.detail ? h('span', { class: 'combo-detail' }, option.detail) : null,
        ),
      ),
    );
    this.list.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
  }

  close(): void {
    this.list.hidden = true;
    this.active = -1;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }

  private move(to: number): void {
    const items = this.list.querySelectorAll<HTMLElement>('[role=option]');
    if (!items.length) return;
    this.active = (to + items.length) % items.length;
    items.forEach((item, i) => item.setAttribute('aria-selected', String(i === this.active)));
    const item = items[this.active];
    this.input.setAttribute('aria-activedescendant', item.id);
    item.scrollIntoView({ block: 'nearest' });
  }

  private key(event: KeyboardEvent): void {
    const openList = !this.list.hidden;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (!openList) this.open();
      this.move(this.active < 0 ? (event.key === 'ArrowDown' ? 0 : -1) : this.active + (event.key === 'ArrowDown' ? 1 : -1));
    } else if (event.key === 'Enter' && openList && this.active >= 0) {
      // Takes the value; a second Enter applies it.
      event.preventDefault();
      this.pick(this.shown[this.active]);
    } else if (event.key === 'Escape' && openList) {
      event.preventDefault();
      event.stopPropagation();
      this.close();
    }
  }

  private pick(option: Suggestion): void {
    const parts = this.input.value.split(',').map((p) => p.trim());
    parts.pop();
    this.input.value = [...parts.filter(Boolean), option.value].join(', ');
    this.close();
    this.input.focus();
  }
}
