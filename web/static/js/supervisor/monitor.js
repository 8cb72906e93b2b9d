// The read-only monitor: a side panel following one interaction (details, transcript, routing log),
// polled every 2 s while open and visible. Customer text is untrusted, so everything goes in as text.

import { api } from '../common/api.js';
import { clearError, duration, h, setText, showError } from '../console/dom.js';

const POLL_MS = 2000;
const TERMINAL = new Set(['completed', 'abandoned', 'failed']);
const STATE_LABEL = {
  queued: 'Queued', offered: 'Offered', connected: 'Connected', wrap_up: 'Wrap-up',
  completed: 'Completed', abandoned: 'Abandoned', transferred: 'Transferred', failed: 'Failed',
};
const WHY_NOT = {
  state: 'not available', capacity: 'no free capacity', skill: 'missing a skill',
  proficiency: 'proficiency too low', rejected_before: 'declined it before',
  chosen: 'picked',
};

function clock(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function ms(iso) {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? null : t;
}

function whyNot(reason) {
  const r = String(reason || '');
  if (r.startsWith('preferred_agent_')) return `preferred agent, ${WHY_NOT[r.slice(16)] || r.slice(16)}`;
  return WHY_NOT[r] || r.replaceAll('_', ' ');
}

/** Waited: enqueued until answered (or until now / the end); handled: answered until ended (or now). */
function times(it, now) {
  const start = ms(it.enqueued_at) ?? ms(it.created_at);
  const connected = ms(it.connected_at);
  const ended = ms(it.ended_at) ?? ms(it.completed_at);
  const stillOpen = !TERMINAL.has(it.state) && ended === null;
  const waitedTo = connected ?? ended ?? (stillOpen ? now : null);
  const handledTo = ended ?? (stillOpen ? now : null);
  return {
    waited: start !== null && waitedTo !== null ? (waitedTo - start) / 1000 : null,
    handled: connected !== null && handledTo !== null ? (handledTo - connected) / 1000 : null,
  };
}

export class InteractionMonitor {
  /** names.agent(id) → the grid's display name or null. */
  constructor(names) {
    this.names = names;
    this.id = null;
    this.opener = null;
    this.openerHeading = null;
    this.data = null;
    this.customer = null; // {id, label, vip}
    this.gen = 0; // bumped on open/close: answers for an older generation are dropped
    this.timer = null;
    this.inflight = false;
    this.stopped = false; // ended or refused: nothing more to fetch
    this.routingKey = '';
    this.messages = new Map(); // message id -> status element
    this._build();
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.id && !e.defaultPrevented) {
        e.preventDefault();
        this.close();
      }
    });
    document.addEventListener('visibilitychange', () => {
      if (!this.id) return;
      if (document.hidden) this._clearTimer();
      else if (!this.inflight && !this.stopped) this._poll(this.gen);
    });
  }

  _build() {
    const f = {};
    const field = (key, label) => {
      f[key] = h('dd', { dataset: { field: key } }, '—');
      return [h('dt', {}, label), f[key]];
    };
    this.fields = f;
    this.title = h('h2', { id: 'monitor-title' }, 'Interaction');
    this.stateChip = h('span', { class: 'state', dataset: { field: 'state-chip' } });
    this.live = h('span', { class: 'live-badge', dataset: { field: 'live', state: 'loading' } }, 'loading');
    this.closeBtn = h('button', { type: 'button', class: 'drawer-close', 'aria-label': 'Close monitor', onclick: () => this.close() }, '×');
    this.errBox = h('div', { class: 'form-error', role: 'alert', hidden: true });
    this.endedNote = h('p', { class: 'ended-note', dataset: { field: 'ended' }, hidden: true });
    this.transcript = h('ol', { class: 'transcript', role: 'log', 'aria-live': 'polite', 'aria-label': 'Transcript' });
    this.transcriptEmpty = h('p', { class: 'empty' }, 'No messages yet.');
    this.routingCount = h('span', { class: 'hint' });
    this.routingList = h('ol', { class: 'decisions' });
    this.routing = h('details', { class: 'routing' },
      h('summary', {}, 'Routing decisions ', this.routingCount), this.routingList);
    this.routing.addEventListener('toggle', () => {
      if (!this.routing.open || !this.id || this.inflight) return; // a poll under way fetches it anyway
      if (this.stopped) this._loadRouting(this.gen);
      else this._poll(this.gen);
    });
    this.updated = h('span', { class: 'hint' });
    this.el = h('aside', { id: 'monitor', class: 'drawer', role: 'dialog', 'aria-modal': 'false',
      'aria-labelledby': 'monitor-title', hidden: true },
    h('header', { class: 'drawer-head' },
      h('div', {}, this.title, h('div', { class: 'drawer-sub' }, this.stateChip, this.live,
        h('span', { class: 'hint' }, 'read-only'))),
      this.closeBtn),
    this.errBox,
    h('dl', { class: 'facts' },
      field('customer', 'Customer'), field('channel', 'Channel'),
      field('queue', 'Queue'), field('priority', 'Priority'),
      field('agent', 'Agent'), field('position', 'Position'),
      field('waited', 'Waited'), field('handled', 'Handled'),
      field('subject', 'Subject')),
    this.endedNote,
    h('h3', { class: 'drawer-h3' }, 'Transcript'),
    h('div', { class: 'transcript-wrap' }, this.transcript, this.transcriptEmpty),
    this.routing,
    h('footer', { class: 'drawer-foot' }, this.updated));
    document.body.append(this.el);
  }

  /** Show interaction `id`; focus goes into the panel and back to `opener` on close. */
  open(id, opener = null) {
    this._clearTimer();
    this.gen += 1;
    if (this.id !== id) this._reset(id);
    this.id = id;
    this.opener = opener || document.activeElement;
    // the id's button may be gone by the time the panel closes (the interaction ended): then its
    // section's heading takes the focus back
    const heading = this.opener && this.opener.closest ? this.opener.closest('section')?.querySelector('h2') : null;
    if (heading && !heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
    this.openerHeading = heading || null;
    this.stopped = false;
    this.el.hidden = false;
    document.body.dataset.monitor = 'open';
    this._markOpeners();
    this.closeBtn.focus();
    this._poll(this.gen);
  }

  close() {
    if (!this.id) return;
    const id = this.id;
    this._clearTimer();
    this.gen += 1;
    this.id = null;
    this.el.hidden = true;
    delete document.body.dataset.monitor;
    this._markOpeners();
    const back = this.opener && this.opener.isConnected ? this.opener
      : document.querySelector(`[data-monitor="${CSS.escape(id)}"]`) || this.openerHeading;
    this.opener = null;
    if (back) back.focus();
  }

  /** The buttons that open the monitored interaction say so (grid and waiting rows are rebuilt often). */
  _markOpeners() {
    for (const b of document.querySelectorAll('[data-monitor]')) {
      const on = b.dataset.monitor === this.id;
      b.classList.toggle('monitored', on);
      b.setAttribute('aria-expanded', String(on));
    }
  }

  /** Called after the grid or the waiting list re-rendered their buttons. */
  refreshOpeners() {
    this._markOpeners();
  }

  _reset(id) {
    this.data = null;
    this.customer = null;
    this.routingKey = '';
    this.messages.clear();
    this.transcript.replaceChildren();
    this.transcriptEmpty.hidden = false;
    this.routingList.replaceChildren();
    this.routing.open = false;
    setText(this.routingCount, '');
    setText(this.title, `Interaction ${id.slice(0, 8)}`);
    this.title.setAttribute('title', id);
    this.stateChip.hidden = true;
    this.endedNote.hidden = true;
    for (const dd of Object.values(this.fields)) setText(dd, '—');
    this._live('loading', 'loading');
    setText(this.updated, '');
    clearError(this.errBox);
  }

  _clearTimer() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  _schedule(gen) {
    this._clearTimer();
    if (gen !== this.gen || !this.id || this.stopped || document.hidden) return;
    this.timer = setTimeout(() => this._poll(gen), POLL_MS);
  }

  _live(state, text) {
    this.live.dataset.state = state;
    setText(this.live, text);
  }

  /** One refresh; the next is scheduled only once this one has answered, so requests never overlap. */
  async _poll(gen) {
    if (gen !== this.gen || this.inflight) return;
    this._clearTimer();
    this.inflight = true;
    const id = this.id;
    try {
      const it = await api(`/api/v1/interactions/${encodeURIComponent(id)}`);
      if (gen !== this.gen) return;
      const first = this.data === null;
      const changed = first || ['state', 'queue', 'agent_id'].some((k) => this.data[k] !== it[k]);
      this.data = it;
      if (!this.customer || this.customer.id !== it.customer_id) await this._loadCustomer(gen, it.customer_id);
      if (gen !== this.gen) return;
      this._render(it);
      if (changed || this.routing.open) await this._loadRouting(gen);
      if (gen !== this.gen) return;
      clearError(this.errBox);
      if (TERMINAL.has(it.state)) {
        this.stopped = true;
        this._live('ended', 'ended');
      } else {
        this._live('live', 'live');
      }
      setText(this.updated, `updated ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      if (gen !== this.gen) return;
      showError(this.errBox, err);
      // a refusal or a missing interaction will not change by asking again; a network blip may
      if ([401, 403, 404].includes(err.status)) {
        this.stopped = true;
        this._live('error', 'unavailable');
      } else {
        this._live('error', 'retrying');
      }
    } finally {
      this.inflight = false;
      if (gen === this.gen) this._schedule(gen);
      else if (this.id && !document.hidden) this._poll(this.gen); // reopened meanwhile: its first poll waited on this one
    }
  }

  async _loadCustomer(gen, customerId) {
    if (!customerId) {
      this.customer = { id: null, label: 'Unknown customer', vip: false };
      return;
    }
    try {
      const c = await api(`/api/v1/customers/${encodeURIComponent(customerId)}`);
      const ident = (c.identities || [])[0];
      if (gen === this.gen) this.customer = { id: customerId, label: c.name || (ident && ident.value) || 'Unknown customer', vip: Boolean(c.vip) };
    } catch {
      // the profile is a nicety: the monitor goes on without a name
      if (gen === this.gen) this.customer = { id: customerId, label: `customer ${customerId.slice(0, 8)}`, vip: false };
    }
  }

  async _loadRouting(gen) {
    const id = this.id;
    if (!id) return;
    try {
      const log = await api(`/api/v1/interactions/${encodeURIComponent(id)}/routing`);
      if (gen !== this.gen) return;
      this._renderRouting(log.decisions || []);
    } catch (err) {
      if (gen !== this.gen) return;
      this.routingList.replaceChildren(h('li', { class: 'form-error' }, `${err.code || 'error'}: ${err.message}`));
    }
  }

  _agent(id) {
    if (!id) return '—';
    return this.names.agent(id) || `agent ${id.slice(0, 8)}`;
  }

  _render(it) {
    const f = this.fields;
    this.stateChip.hidden = false;
    this.stateChip.dataset.state = it.state;
    setText(this.stateChip, STATE_LABEL[it.state] || it.state);
    setText(f.customer, this.customer.vip ? `${this.customer.label} · VIP` : this.customer.label);
    setText(f.channel, it.channel);
    setText(f.queue, it.original_queue && it.original_queue !== it.queue ? `${it.queue} (from ${it.original_queue})` : it.queue);
    setText(f.priority, it.priority ?? 0);
    setText(f.agent, this._agent(it.agent_id));
    setText(f.position, it.state === 'queued' && it.position != null
      ? `#${it.position}${it.estimated_wait_s != null ? ` · est. ${duration(it.estimated_wait_s)}` : ''}` : '—');
    setText(f.subject, it.subject || '—');
    this.tick();

    const over = it.ended_at || TERMINAL.has(it.state);
    this.endedNote.hidden = !over;
    if (over) {
      const bits = ['Conversation ended'];
      if (it.end_reason) bits.push(it.end_reason.replaceAll('_', ' '));
      if (it.wrap_up_code) bits.push(`wrap-up: ${it.wrap_up_code}`);
      else if (it.state === 'wrap_up') bits.push('agent in wrap-up');
      setText(this.endedNote, bits.join(' · '));
    }
    this._renderTranscript(it.transcript || []);
  }

  _who(m) {
    if (m.from === 'customer') return this.customer ? this.customer.label : 'Customer';
    if (m.from === 'agent') return this._agent(m.agent_id);
    if (m.from === 'system') return 'System';
    return String(m.from || 'unknown');
  }

  /** Messages only ever get appended (ordered by id); a delivery status may change in place. */
  _renderTranscript(messages) {
    const box = this.transcript.parentElement;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    let added = false;
    for (const m of messages) {
      const status = this.messages.get(m.id);
      if (status) {
        setText(status, m.status || '');
        continue;
      }
      const statusEl = h('span', { class: 'msg-status' }, m.status || '');
      const kind = ['customer', 'agent', 'system'].includes(m.from) ? m.from : 'system';
      this.transcript.append(h('li', { class: `msg msg-${kind}`, dataset: { from: m.from, message: m.id } },
        h('div', { class: 'msg-meta' },
          h('span', { class: 'msg-who' }, this._who(m)),
          h('time', { datetime: m.at }, clock(m.at)),
          statusEl),
        h('p', { class: 'msg-text' }, m.text ?? '')));
      this.messages.set(m.id, statusEl);
      added = true;
    }
    this.transcriptEmpty.hidden = this.messages.size > 0;
    if (added && atBottom) box.scrollTop = box.scrollHeight;
  }

  _renderRouting(decisions) {
    const key = JSON.stringify(decisions);
    setText(this.routingCount, `(${decisions.length})`);
    if (key === this.routingKey) return;
    this.routingKey = key;
    if (!decisions.length) {
      this.routingList.replaceChildren(h('li', { class: 'empty' }, 'No routing decisions yet.'));
      return;
    }
    this.routingList.replaceChildren(...decisions.map((d) => {
      const outcome = d.winner
        ? [h('strong', {}, `${d.outcome || 'offered'} to ${this._agent(d.winner)}`), d.rule ? h('span', { class: 'rule' }, d.rule) : null]
        : [h('strong', {}, d.outcome === 'waiting' ? 'waiting — no agent free' : (d.outcome || '—'))];
      const cands = d.candidates || [];
      return h('li', { class: 'decision', dataset: { outcome: d.outcome || '' } },
        h('div', { class: 'decision-line' },
          h('time', { datetime: d.at }, clock(d.at)),
          h('span', { class: 'trigger' }, d.trigger || ''),
          ...outcome),
        cands.length
          ? h('ul', { class: 'cands' }, ...cands.map((c) => h('li', {},
            h('span', {}, this._agent(c.agent_id)), ' — ',
            h('span', { class: 'why', dataset: { why: c.excluded } }, whyNot(c.excluded)))))
          : h('div', { class: 'hint' }, 'no agent passed over'));
    }));
  }

  /** Waited and handled times move on between refreshes. */
  tick() {
    if (!this.id || !this.data) return;
    const t = times(this.data, Date.now());
    setText(this.fields.waited, t.waited === null ? '—' : duration(t.waited));
    setText(this.fields.handled, t.handled === null ? '—' : duration(t.handled));
  }
}
