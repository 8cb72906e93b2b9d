// Historical reports: 15-minute queue and agent intervals for a date range, charts and CSV export.

import { api } from '../common/api.js';
import { clearError, duration, h, percent, showError } from '../console/dom.js';
import { openConsole } from '../console/shell.js';

const isoDay = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
const num = (x) => (x === null || x === undefined ? '—' : String(x));
const secs = (x) => (x === null || x === undefined ? '—' : duration(x));
const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });

function start() {
  const form = document.getElementById('report-form');
  const errBox = document.getElementById('report-error');
  const agentErr = document.getElementById('agent-error');
  const queueSel = document.getElementById('r-queue');
  const csvQueues = document.getElementById('csv-queues');
  const csvAgents = document.getElementById('csv-agents');
  const charts = {};

  const today = new Date();
  form.elements.from.value = isoDay(today);
  form.elements.to.value = isoDay(today);

  api('/api/v1/queues')
    .then((r) => queueSel.append(...(r.items || []).map((q) => h('option', { value: q.name }, q.name))))
    .catch((err) => showError(errBox, err));

  /** The API's `to` is exclusive; the form's is the last day included. */
  const params = () => {
    const to = new Date(`${form.elements.to.value}T00:00:00`);
    to.setDate(to.getDate() + 1);
    const p = new URLSearchParams({ from: form.elements.from.value, to: isoDay(to) });
    if (queueSel.value) p.set('queue', queueSel.value);
    return p;
  };

  const drawCharts = (items) => {
    if (typeof window.Chart === 'undefined') return;
    // one point per interval, queues summed, so the chart reads the same with one queue or all
    const by = new Map();
    for (const it of items) {
      const k = it.interval_start;
      const a = by.get(k) || { offered: 0, answered: 0, abandoned: 0, in_sl: 0, asa: [], aht: [] };
      a.offered += it.offered;
      a.answered += it.answered;
      a.abandoned += it.abandoned;
      a.in_sl += it.answered_in_sl;
      if (it.asa_s !== null && it.asa_s !== undefined) a.asa.push([it.asa_s, it.answered]);
      if (it.aht_s !== null && it.aht_s !== undefined) a.aht.push([it.aht_s, it.answered || 1]);
      by.set(k, a);
    }
    const keys = [...by.keys()].sort();
    const labels = keys.map(when);
    const rows = keys.map((k) => by.get(k));
    const wavg = (pairs) => {
      const w = pairs.reduce((s, [, n]) => s + n, 0);
      return w ? Math.round(pairs.reduce((s, [v, n]) => s + v * n, 0) / w) : null;
    };
    const draw = (id, config) => {
      if (charts[id]) charts[id].destroy();
      charts[id] = new window.Chart(document.getElementById(id), config);
    };
    const base = { responsive: true, maintainAspectRatio: false, animation: false };
    draw('volume-chart', {
      data: {
        labels,
        datasets: [
          { type: 'bar', label: 'Offered', data: rows.map((r) => r.offered), yAxisID: 'y' },
          { type: 'bar', label: 'Answered', data: rows.map((r) => r.answered), yAxisID: 'y' },
          { type: 'bar', label: 'Abandoned', data: rows.map((r) => r.abandoned), yAxisID: 'y' },
          { type: 'line', label: 'Service level %', yAxisID: 'sl',
            data: rows.map((r) => (r.answered + r.abandoned ? Math.round((r.in_sl / (r.answered + r.abandoned)) * 100) : null)) },
        ],
      },
      options: { ...base, scales: { y: { beginAtZero: true, title: { display: true, text: 'interactions' } },
        sl: { position: 'right', min: 0, max: 100, title: { display: true, text: 'SL %' }, grid: { drawOnChartArea: false } } } },
    });
    draw('time-chart', {
      type: 'line',
      data: { labels, datasets: [
        { label: 'ASA (s)', data: rows.map((r) => wavg(r.asa)) },
        { label: 'AHT (s)', data: rows.map((r) => wavg(r.aht)) },
      ] },
      options: { ...base, scales: { y: { beginAtZero: true, title: { display: true, text: 'seconds' } } } },
    });
  };

  const renderQueues = (items) => {
    const tbody = document.querySelector('#queue-intervals tbody');
    tbody.replaceChildren(...items.map((it) => h('tr', { dataset: { interval: it.interval_start, queue: it.queue } },
      h('td', {}, when(it.interval_start)), h('td', {}, it.queue), h('td', { class: 'num' }, num(it.offered)),
      h('td', { class: 'num' }, num(it.answered)), h('td', { class: 'num' }, num(it.abandoned)),
      h('td', { class: 'num' }, num(it.answered_in_sl)), h('td', { class: 'num' }, percent(it.service_level)),
      h('td', { class: 'num' }, secs(it.asa_s)), h('td', { class: 'num' }, secs(it.aht_s)),
      h('td', { class: 'num' }, secs(it.avg_wrap_s)), h('td', { class: 'num' }, num(it.rona)))));
    const sum = (k) => items.reduce((s, it) => s + (it[k] || 0), 0);
    document.querySelector('#queue-intervals tfoot').replaceChildren(items.length ? h('tr', {},
      h('th', { scope: 'row', colspan: 2 }, 'Total'), h('td', { class: 'num' }, sum('offered')),
      h('td', { class: 'num', dataset: { total: 'answered' } }, sum('answered')), h('td', { class: 'num' }, sum('abandoned')),
      h('td', { class: 'num' }, sum('answered_in_sl')), h('td', { colspan: 4 }), h('td', { class: 'num' }, sum('rona'))) : '');
    document.getElementById('queue-empty').hidden = items.length > 0;
    drawCharts(items);
  };

  const renderAgents = (items) => {
    document.querySelector('#agent-intervals tbody').replaceChildren(...items.map((it) => h('tr', {},
      h('td', {}, when(it.interval_start)), h('td', {}, it.display_name || it.agent_id),
      h('td', { class: 'num' }, num(it.offered)), h('td', { class: 'num' }, num(it.answered)),
      h('td', { class: 'num' }, num(it.handled)), h('td', { class: 'num' }, num(it.rona)),
      h('td', { class: 'num' }, secs(it.aht_s)), h('td', { class: 'num' }, secs(it.avg_wrap_s)),
      h('td', { class: 'num' }, percent(it.occupancy)))));
    document.getElementById('agent-empty').hidden = items.length > 0;
  };

  const load = async () => {
    clearError(errBox);
    clearError(agentErr);
    const p = params();
    csvQueues.href = `/api/v1/reports/intervals.csv?${p}`;
    const ap = new URLSearchParams(p);
    ap.delete('queue');
    csvAgents.href = `/api/v1/reports/agents.csv?${ap}`;
    const notYet = (err) => (err.status === 404 && err.message === 'Not Found'
      ? { ...err, code: 'not_available', message: 'reports are not available on this server yet' } : err);
    try {
      renderQueues((await api(`/api/v1/reports/intervals?${p}`)).items || []);
    } catch (err) {
      showError(errBox, notYet(err));
    }
    try {
      renderAgents((await api(`/api/v1/reports/agents?${ap}`)).items || []);
    } catch (err) {
      showError(agentErr, notYet(err));
    }
    document.body.dataset.loaded = 'true';
  };

  // A plain link cannot carry the bearer token: fetch the CSV and hand it over as a download.
  for (const link of [csvQueues, csvAgents]) {
    link.addEventListener('click', async (ev) => {
      ev.preventDefault();
      try {
        const blob = await api(link.getAttribute('href'), { headers: { Accept: 'text/csv, */*' }, as: 'blob' });
        const url = URL.createObjectURL(blob);
        const a = h('a', { href: url, download: link.getAttribute('download') });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      } catch (err) {
        showError(errBox, err);
      }
    });
  }
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    load();
  });
  load();
}

openConsole({ current: '/reports', signInTitle: 'Sign in to reports', roles: ['supervisor', 'admin'], start });
