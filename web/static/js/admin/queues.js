// Queues: channels, required skills, strategy, SL threshold, offer timeout, wrap-up, max wait and
// escalation steps ({after_s, min_proficiency} or {after_s, overflow_queue}). Changes route at once.

import { api } from '../common/api.js';
import { formatPairs, h, onSubmit, parsePairs, showError, showNotice } from '../console/dom.js';
import { deleteButton } from './rows.js';

const CHANNELS = ['chat', 'sms', 'whatsapp', 'messenger', 'email', 'voice'];

function escalationText(steps) {
  return (steps || []).map((s) => (s.overflow_queue
    ? `after ${s.after_s}s → ${s.overflow_queue}`
    : `after ${s.after_s}s need ${formatPairs(s.min_proficiency)}`)).join('; ') || '—';
}

export function queuesSection() {
  const tbody = document.querySelector('#queues-table tbody');
  const form = document.getElementById('queue-form');
  const errBox = document.getElementById('queue-error');
  const notice = document.getElementById('queue-notice');
  const submit = document.getElementById('queue-submit');
  const cancel = document.getElementById('queue-cancel');
  const title = document.getElementById('queue-form-title');
  const escRows = document.getElementById('esc-rows');
  const channelBox = document.getElementById('q-channels');
  let editing = null;
  let rowSeq = 0;

  for (const ch of CHANNELS) {
    channelBox.append(h('label', {}, h('input', { type: 'checkbox', name: 'channels', value: ch, checked: ch === 'chat' }), ch));
  }

  const addStep = (step = {}) => {
    const n = ++rowSeq;
    const kind = h('select', { id: `esc-kind-${n}`, 'aria-label': `Escalation step ${n} action` },
      h('option', { value: 'min_proficiency' }, 'lower/raise skill minimum'),
      h('option', { value: 'overflow_queue' }, 'overflow to queue'));
    const after = h('input', { id: `esc-after-${n}`, type: 'number', min: 1, value: step.after_s ?? 60, style: 'width:6em' });
    const value = h('input', { id: `esc-value-${n}`, type: 'text', placeholder: 'billing:3  or  general' });
    if (step.overflow_queue) {
      kind.value = 'overflow_queue';
      value.value = step.overflow_queue;
    } else if (step.min_proficiency) {
      value.value = formatPairs(step.min_proficiency);
    }
    const remove = h('button', { type: 'button', 'aria-label': `Remove escalation step ${n}` }, 'Remove');
    const row = h('div', { class: 'esc-row', dataset: { step: n } },
      h('div', {}, h('label', { for: after.id }, 'After (s)'), after),
      h('div', {}, h('label', { for: kind.id }, 'Action'), kind),
      h('div', {}, h('label', { for: value.id }, 'Skills (name:min) or queue'), value), remove);
    remove.addEventListener('click', () => row.remove());
    escRows.append(row);
  };
  document.getElementById('esc-add').addEventListener('click', () => addStep());

  const readSteps = () => [...escRows.children].map((row) => {
    const [after, kind, value] = row.querySelectorAll('input, select');
    const step = { after_s: Number(after.value) };
    if (kind.value === 'overflow_queue') step.overflow_queue = value.value.trim();
    else step.min_proficiency = parsePairs(value.value);
    return step;
  });

  const reset = () => {
    form.reset();
    escRows.replaceChildren();
    form.elements.name.disabled = false;
    editing = null;
    title.textContent = 'New queue';
    submit.textContent = 'Create queue';
    cancel.hidden = true;
  };

  const edit = (q) => {
    reset();
    editing = q.name;
    const f = form.elements;
    f.name.value = q.name;
    f.name.disabled = true;
    f.strategy.value = q.strategy;
    f.service_level_s.value = q.service_level_s;
    f.offer_timeout_s.value = q.offer_timeout_s;
    f.wrap_up_s.value = q.wrap_up_s;
    f.max_wait_s.value = q.max_wait_s ?? '';
    f.skills.value = formatPairs(q.skills);
    for (const box of channelBox.querySelectorAll('input')) box.checked = q.channels.includes(box.value);
    for (const s of q.escalation || []) addStep(s);
    title.textContent = `Edit queue ${q.name}`;
    submit.textContent = 'Save queue';
    cancel.hidden = false;
    form.scrollIntoView({ block: 'start' });
    f.strategy.focus();
  };

  let current = [];
  const load = async () => {
    try {
      current = (await api('/api/v1/queues')).items || [];
      tbody.replaceChildren(...current.map((q) => {
        const ed = h('button', { type: 'button', 'aria-label': `Edit queue ${q.name}` }, 'Edit');
        ed.addEventListener('click', () => edit(q));
        const del = deleteButton({ label: 'Delete', ariaLabel: `Delete queue ${q.name}`,
          path: `/api/v1/queues/${encodeURIComponent(q.name)}`, question: `Delete queue ${q.name}?`, errBox, reload: load });
        return h('tr', { dataset: { queue: q.name } }, h('td', { class: 'mono' }, q.name), h('td', {}, q.channels.join(', ')),
          h('td', {}, formatPairs(q.skills) || '—'), h('td', {}, q.strategy), h('td', { class: 'num' }, q.service_level_s),
          h('td', { class: 'num' }, q.offer_timeout_s), h('td', { class: 'num' }, q.wrap_up_s),
          h('td', { class: 'num' }, q.max_wait_s ?? '—'), h('td', {}, escalationText(q.escalation)),
          h('td', {}, h('div', { class: 'actions' }, ed, del)));
      }));
    } catch (err) {
      showError(errBox, err);
    }
  };

  onSubmit(form, errBox, async () => {
    notice.hidden = true;
    const f = form.elements;
    const num = (input) => (input.value === '' ? null : Number(input.value));
    let body;
    try {
      body = {
        name: f.name.value.trim(),
        channels: [...channelBox.querySelectorAll('input:checked')].map((b) => b.value),
        skills: parsePairs(f.skills.value),
        strategy: f.strategy.value,
        service_level_s: num(f.service_level_s),
        offer_timeout_s: num(f.offer_timeout_s),
        wrap_up_s: num(f.wrap_up_s),
        max_wait_s: num(f.max_wait_s),
        escalation: readSteps(),
      };
    } catch (err) {
      showError(errBox, { code: 'invalid_input', message: err.message });
      return;
    }
    for (const k of ['service_level_s', 'offer_timeout_s', 'wrap_up_s']) if (body[k] === null) delete body[k];
    if (editing) {
      const prev = current.find((q) => q.name === editing) || {};
      body.last_agent_window_s = prev.last_agent_window_s ?? 0;
      await api(`/api/v1/queues/${encodeURIComponent(editing)}`, { method: 'PUT', body });
      showNotice(notice, `Saved queue ${body.name}.`);
    } else {
      await api('/api/v1/queues', { method: 'POST', body });
      showNotice(notice, `Created queue ${body.name}; it routes now.`);
    }
    reset();
    await load();
  });
  cancel.addEventListener('click', reset);
  load();
}
