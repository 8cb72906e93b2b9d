// One tile per queue. Updates only touch the figures that changed; the longest wait ticks locally
// between server updates (the server only sends a queue when something about it changed).

import { duration, h, percent, setText } from '../console/dom.js';

const FIELDS = [
  ['waiting', 'Waiting'],
  ['longest_wait', 'Longest wait'],
  ['estimated_wait', 'Estimated wait'],
  ['service_level', 'Service level today'],
  ['answered', 'Answered'],
  ['handled', 'Handled'],
  ['abandoned', 'Abandoned'],
  ['agents', 'Agents available / eligible'],
];

export class QueueTiles {
  constructor(container) {
    this.container = container;
    this.tiles = new Map(); // name -> {el, fields, data, receivedAt}
  }

  _create(name) {
    const fields = {};
    const dl = h('dl');
    for (const [key, label] of FIELDS) {
      const dd = h('dd', { dataset: { field: key } }, '—');
      if (key === 'waiting') dd.classList.add('big');
      fields[key] = dd;
      dl.append(h('dt', {}, label), dd);
    }
    const sl = h('span', { class: 'hint', dataset: { field: 'sl_threshold' } });
    fields.sl_threshold = sl;
    const el = h('article', { class: 'tile', dataset: { queue: name }, 'aria-label': `Queue ${name}` },
      h('h3', {}, h('span', {}, name), sl), dl);
    const tile = { el, fields, data: null, receivedAt: 0 };
    this.tiles.set(name, tile);
    this._place(name, el);
    return tile;
  }

  _place(name, el) {
    const after = [...this.tiles.keys()].filter((n) => n > name).sort()[0];
    const ref = after ? this.tiles.get(after).el : null;
    this.container.insertBefore(el, ref && ref.parentNode === this.container ? ref : null);
  }

  /** Apply full or partial queue figures; `replace` drops tiles of queues no longer listed. */
  apply(queues, { replace = false } = {}) {
    const seen = new Set();
    for (const q of queues || []) {
      seen.add(q.queue);
      const tile = this.tiles.get(q.queue) || this._create(q.queue);
      tile.data = { ...(tile.data || {}), ...q };
      tile.receivedAt = Date.now();
      this._render(tile);
    }
    if (replace) {
      for (const [name, tile] of this.tiles) {
        if (!seen.has(name)) {
          tile.el.remove();
          this.tiles.delete(name);
        }
      }
    }
  }

  names() {
    return [...this.tiles.keys()].sort();
  }

  _render(tile) {
    const q = tile.data;
    const f = tile.fields;
    const before = f.waiting.textContent;
    setText(f.waiting, q.waiting ?? 0);
    if (before !== f.waiting.textContent && before !== '—') {
      f.waiting.classList.remove('flash');
      void f.waiting.offsetWidth; // restart the animation
      f.waiting.classList.add('flash');
    }
    setText(f.estimated_wait, q.waiting ? duration(q.estimated_wait_s) : '—');
    setText(f.service_level, percent(q.service_level));
    setText(f.answered, q.answered ?? 0);
    setText(f.handled, q.handled ?? 0);
    setText(f.abandoned, q.abandoned ?? 0);
    setText(f.agents, `${q.available_agents ?? 0} / ${q.eligible_agents ?? 0}`);
    setText(f.sl_threshold, q.service_level_s ? `SL ${q.service_level_s}s` : '');
    this._tickOne(tile);
  }

  _tickOne(tile) {
    const q = tile.data;
    if (!q) return;
    const longest = q.waiting ? (q.longest_wait_s || 0) + (Date.now() - tile.receivedAt) / 1000 : null;
    setText(tile.fields.longest_wait, longest === null ? '—' : duration(longest));
    const alert = Boolean(q.waiting && q.service_level_s && longest > q.service_level_s);
    if (tile.el.dataset.alert !== String(alert)) tile.el.dataset.alert = String(alert);
  }

  tick() {
    for (const tile of this.tiles.values()) this._tickOne(tile);
  }
}
