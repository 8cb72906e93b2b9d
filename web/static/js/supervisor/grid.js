// The agent grid: a row per agent, patched in place by agent:state diffs; time in state ticks locally.

import { duration, h, setText } from '../console/dom.js';

const STATE_LABEL = { available: 'Available', not_ready: 'Not ready', wrap_up: 'Wrap-up', logged_out: 'Logged out' };

function loadText(load) {
  const parts = Object.entries(load || {}).filter(([, n]) => Number(n) > 0).map(([ch, n]) => `${ch} ${n}`);
  return parts.length ? parts.join(' · ') : '—';
}

export class AgentGrid {
  /**
   * actions: {setState(agent, state, idleCode) -> Promise, logout(agent) -> Promise,
   * monitor(interactionId, button), openersChanged()}
   */
  constructor(tbody, actions) {
    this.tbody = tbody;
    this.actions = actions;
    this.rows = new Map(); // id -> {tr, cells, data, since}
    this.idleCodes = [];
    this.filter = '';
  }

  setIdleCodes(codes) {
    this.idleCodes = codes;
    for (const row of this.rows.values()) this._fillStateOptions(row);
  }

  _fillStateOptions(row) {
    const sel = row.stateSelect;
    const current = sel.value;
    sel.replaceChildren(
      h('option', { value: 'available' }, 'Available'),
      ...this.idleCodes.map((c) => h('option', { value: `not_ready:${c.code}` }, `Not ready — ${c.label || c.code}`)),
    );
    if ([...sel.options].some((o) => o.value === current)) sel.value = current;
  }

  _create(a) {
    const name = a.display_name || a.email || a.id;
    const cells = {
      name: h('td', {}, h('strong', {}, name), h('div', { class: 'hint' }, a.email || '')),
      team: h('td', { dataset: { field: 'team' } }, a.team || '—'),
      state: h('td', {}, h('span', { class: 'state', dataset: { field: 'state' } })),
      idle: h('td', { dataset: { field: 'idle_code' } }),
      time: h('td', { class: 'num', dataset: { field: 'time_in_state' } }),
      load: h('td', { dataset: { field: 'load' } }),
      interactions: h('td', { class: 'mono', dataset: { field: 'interactions' } }),
      actions: h('td'),
    };
    const row = { tr: null, cells, data: { ...a }, since: Date.now() };
    row.stateSelect = h('select', { 'aria-label': `New state for ${name}`, dataset: { role: 'state-select' } });
    this._fillStateOptions(row);
    row.stateSelect.value = this.idleCodes.length ? `not_ready:${this.idleCodes[0].code}` : 'available';
    row.applyBtn = h('button', { type: 'button', 'aria-label': `Set state of ${name}`, dataset: { role: 'apply-state' } }, 'Set');
    row.logoutBtn = h('button', { type: 'button', class: 'danger', 'aria-label': `Log out ${name}`, dataset: { role: 'logout' } }, 'Log out');
    row.applyBtn.addEventListener('click', () => this._apply(row));
    row.logoutBtn.addEventListener('click', () => this._busy(row, () => this.actions.logout(row.data)));
    cells.actions.append(h('div', { class: 'actions' }, row.stateSelect, row.applyBtn, row.logoutBtn));
    row.tr = h('tr', { dataset: { agent: a.id } }, ...Object.values(cells));
    this.rows.set(a.id, row);
    return row;
  }

  async _busy(row, fn) {
    row.applyBtn.disabled = true;
    row.logoutBtn.disabled = true;
    try {
      await fn();
    } finally {
      this._renderActions(row);
    }
  }

  _apply(row) {
    const v = row.stateSelect.value;
    const [state, code] = v.includes(':') ? v.split(':') : [v, null];
    return this._busy(row, () => this.actions.setState(row.data, state, code));
  }

  /** Full agent objects from a snapshot: rows are kept, updated, added; with `replace`, missing ones go. */
  apply(agents, { replace = false } = {}) {
    const seen = new Set();
    const order = [];
    for (const a of agents || []) {
      seen.add(a.id);
      let row = this.rows.get(a.id);
      if (!row) row = this._create(a);
      const prev = row.data;
      row.data = { ...prev, ...a };
      if (a.time_in_state_s !== null && a.time_in_state_s !== undefined) row.since = Date.now() - a.time_in_state_s * 1000;
      else if (prev.state !== a.state) row.since = Date.now();
      this._render(row);
      order.push(row.tr);
    }
    if (replace) {
      for (const [id, row] of this.rows) {
        if (!seen.has(id)) {
          row.tr.remove();
          this.rows.delete(id);
        }
      }
      // keep the server's order (by name) without rebuilding rows
      order.forEach((tr, i) => {
        if (this.tbody.children[i] !== tr) this.tbody.insertBefore(tr, this.tbody.children[i] || null);
      });
    } else {
      for (const tr of order) if (!tr.parentNode) this.tbody.append(tr);
    }
    this._applyFilter();
  }

  /** Apply agent:state diffs; returns ids the grid does not know (a snapshot should fetch them). */
  patch(diffs) {
    const unknown = [];
    let loadChanged = false;
    for (const d of diffs || []) {
      const row = this.rows.get(d.id);
      if (!row) {
        unknown.push(d.id);
        continue;
      }
      const prev = row.data;
      if (prev.state !== d.state || (prev.idle_code || null) !== (d.idle_code || null)) row.since = Date.now();
      if (JSON.stringify(prev.load || {}) !== JSON.stringify(d.load || {})) loadChanged = true;
      row.data = { ...prev, state: d.state, idle_code: d.idle_code ?? null, load: d.load || {} };
      if (d.state === 'logged_out') row.data.interactions = [];
      this._render(row, true);
    }
    this._applyFilter();
    return { unknown, loadChanged };
  }

  _render(row, flash = false) {
    const a = row.data;
    const stateEl = row.cells.state.firstChild;
    const changed = stateEl.dataset.state !== a.state;
    stateEl.dataset.state = a.state;
    setText(stateEl, STATE_LABEL[a.state] || a.state);
    setText(row.cells.idle, a.idle_code || '—');
    setText(row.cells.team, a.team || '—');
    setText(row.cells.load, loadText(a.load));
    const ids = a.interactions || [];
    if (row.cells.interactions.dataset.ids !== ids.join(',')) {
      row.cells.interactions.dataset.ids = ids.join(',');
      row.cells.interactions.replaceChildren(...(ids.length
        ? ids.map((id) => h('div', {}, this._monitorButton(id)))
        : ['—']));
      if (this.actions.openersChanged) this.actions.openersChanged();
    }
    row.tr.dataset.state = a.state;
    this._tickOne(row);
    this._renderActions(row);
    if (flash && changed) {
      stateEl.classList.remove('flash');
      void stateEl.offsetWidth;
      stateEl.classList.add('flash');
    }
  }

  _monitorButton(id) {
    const short = id.slice(0, 8);
    return h('button', { type: 'button', class: 'link mono', title: id, 'aria-haspopup': 'dialog',
      'aria-label': `Monitor interaction ${short}`, dataset: { monitor: id },
      onclick: (e) => this.actions.monitor(id, e.currentTarget) }, short);
  }

  /** The display name of an agent the grid knows, or null. */
  agentName(id) {
    const row = this.rows.get(id);
    return row ? row.data.display_name || row.data.email || null : null;
  }

  _renderActions(row) {
    const out = row.data.state === 'logged_out';
    row.applyBtn.disabled = out;
    row.logoutBtn.disabled = out;
    row.stateSelect.disabled = out;
  }

  _tickOne(row) {
    const out = row.data.state === 'logged_out' && row.data.time_in_state_s == null;
    setText(row.cells.time, out ? '—' : duration((Date.now() - row.since) / 1000));
  }

  tick() {
    for (const row of this.rows.values()) this._tickOne(row);
  }

  setFilter(text) {
    this.filter = text.trim().toLowerCase();
    this._applyFilter();
  }

  _applyFilter() {
    for (const row of this.rows.values()) {
      const a = row.data;
      const hay = `${a.display_name} ${a.email} ${a.team || ''} ${a.state} ${a.idle_code || ''}`.toLowerCase();
      row.tr.hidden = Boolean(this.filter) && !hay.includes(this.filter);
    }
  }
}
