// Waiting interactions with the supervisor's two levers (move to another queue, change priority);
// each id opens the monitor.

import { api } from '../common/api.js';
import { clearError, duration, h, setText, showError } from '../console/dom.js';

export class WaitingList {
  /** monitor: {open(interactionId, button), refreshOpeners()} */
  constructor(tbody, emptyEl, errBox, monitor) {
    this.tbody = tbody;
    this.monitor = monitor;
    this.emptyEl = emptyEl;
    this.errBox = errBox;
    this.queues = [];
    this.rows = new Map(); // id -> {tr, waitCell, enqueuedAt}
    this.loading = null;
  }

  setQueues(names) {
    this.queues = names;
  }

  async load() {
    if (this.loading) return this.loading;
    this.loading = (async () => {
      try {
        const page = await api('/api/v1/interactions?state=queued&limit=200');
        clearError(this.errBox);
        this.render(page.items || []);
      } catch (err) {
        showError(this.errBox, err);
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  render(items) {
    const seen = new Set();
    for (const it of items) {
      seen.add(it.id);
      const old = this.rows.get(it.id);
      if (old && old.queue === it.queue && old.priority === it.priority) continue;
      const row = this._row(it);
      if (old) old.tr.replaceWith(row.tr);
      else this.tbody.append(row.tr);
      this.rows.set(it.id, row);
    }
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) {
        row.tr.remove();
        this.rows.delete(id);
      }
    }
    this.emptyEl.hidden = this.rows.size > 0;
    this.monitor.refreshOpeners();
    this.tick();
  }

  _row(it) {
    const short = it.id.slice(0, 8);
    const queueSel = h('select', { 'aria-label': `Move interaction ${short} to queue` },
      ...this.queues.map((q) => h('option', { value: q, selected: q === it.queue }, q)));
    const moveBtn = h('button', { type: 'button', 'aria-label': `Move interaction ${short}` }, 'Move');
    const prio = h('input', { type: 'number', min: 0, max: 10, value: it.priority ?? 0,
      'aria-label': `Priority of interaction ${short}`, style: 'width:4.5em' });
    const prioBtn = h('button', { type: 'button', 'aria-label': `Set priority of interaction ${short}` }, 'Set priority');
    const waitCell = h('td', { class: 'num' });
    const tr = h('tr', { dataset: { interaction: it.id } },
      h('td', {}, h('button', { type: 'button', class: 'link mono', title: it.id, 'aria-haspopup': 'dialog',
        'aria-label': `Monitor interaction ${short}`, dataset: { monitor: it.id },
        onclick: (e) => this.monitor.open(it.id, e.currentTarget) }, short)),
      h('td', {}, it.channel),
      h('td', {}, it.queue),
      h('td', { class: 'num' }, it.priority ?? 0),
      waitCell,
      h('td', {}, it.subject || ''),
      h('td', {}, h('div', { class: 'actions' }, queueSel, moveBtn, prio, prioBtn)));
    const act = async (body) => {
      moveBtn.disabled = prioBtn.disabled = true;
      try {
        await api(`/api/v1/interactions/${encodeURIComponent(it.id)}/move`, { method: 'POST', body });
        clearError(this.errBox);
        await this.load();
      } catch (err) {
        showError(this.errBox, err);
      } finally {
        moveBtn.disabled = prioBtn.disabled = false;
      }
    };
    moveBtn.addEventListener('click', () => {
      if (queueSel.value !== it.queue) act({ queue: queueSel.value });
    });
    prioBtn.addEventListener('click', () => act({ priority: Number(prio.value) }));
    return { tr, waitCell, queue: it.queue, priority: it.priority,
      enqueuedAt: Date.parse(it.enqueued_at || it.created_at) || Date.now() };
  }

  tick() {
    for (const row of this.rows.values()) setText(row.waitCell, duration((Date.now() - row.enqueuedAt) / 1000));
  }
}
