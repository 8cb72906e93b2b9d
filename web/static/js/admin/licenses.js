// Licenses: the org's signed documents, usage per measurement period with a per-day chart,
// and a warning at 80 % / 100 % of seats. Upload takes the signed JSON exactly as issued.

import { api } from '../common/api.js';
import { clearError, h, onSubmit, showError, showNotice } from '../console/dom.js';

const fmtDate = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

function level(used, seats) {
  if (!seats) return 'ok';
  const r = used / seats;
  if (r >= 1) return 'critical';
  if (r >= 0.8) return 'warning';
  return 'ok';
}

export function licensesSection() {
  const tbody = document.querySelector('#licenses-table tbody');
  const warnBox = document.getElementById('license-warning');
  const usageBox = document.getElementById('usage');
  const usageErr = document.getElementById('usage-error');
  const usageForm = document.getElementById('usage-form');
  const periodInput = document.getElementById('usage-period');
  const form = document.getElementById('license-form');
  const errBox = document.getElementById('license-error');
  const notice = document.getElementById('license-notice');
  const canvas = document.getElementById('usage-chart');
  let chart = null;

  const now = new Date();
  periodInput.value = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}`;

  const loadList = async () => {
    try {
      const items = (await api('/api/v1/licenses')).items || [];
      tbody.replaceChildren(...items.map((l) => h('tr', { dataset: { license: l.license_id } },
        h('td', { class: 'mono' }, l.license_id), h('td', {}, l.model), h('td', { class: 'num' }, l.seats),
        h('td', {}, l.period), h('td', {}, l.timezone), h('td', {}, fmtDate(l.valid_from)),
        h('td', {}, fmtDate(l.valid_until)), h('td', {}, l.active ? 'active' : 'inactive'))));
      if (!items.length) tbody.append(h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No license uploaded: agents cannot log in.')));
    } catch (err) {
      showError(errBox, err);
    }
  };

  const renderUsage = (data) => {
    const lics = data.licenses || [];
    const messages = [];
    usageBox.replaceChildren(...lics.map((l) => {
      const used = l.model === 'named' ? (l.named_count ?? 0) : (l.peak_concurrent ?? 0);
      const lv = level(used, l.seats);
      const pct = l.seats ? Math.round((used / l.seats) * 100) : 0;
      if (l.warning || lv !== 'ok') {
        messages.push({ lv: lv === 'ok' ? 'warning' : lv,
          text: l.warning || `${l.license_id}: ${used} of ${l.seats} ${l.model} seats used (${pct} %)` });
      }
      const refusals = Object.entries(l.refusals || {}).map(([k, n]) => `${k}: ${n}`).join(', ') || 'none';
      return h('article', { class: 'tile', dataset: { license: l.license_id, level: lv }, 'aria-label': `Usage of ${l.license_id}` },
        h('h3', {}, h('span', {}, `${l.model} — ${l.seats} seats`), h('span', { class: 'hint' }, l.period_key || '')),
        h('dl', {},
          h('dt', {}, 'Peak concurrent'), h('dd', { dataset: { field: 'peak_concurrent' } }, String(l.peak_concurrent ?? 0)),
          h('dt', {}, 'Peak at'), h('dd', {}, fmtDate(l.peak_concurrent_at)),
          h('dt', {}, 'Named agents'), h('dd', { dataset: { field: 'named_count' } }, l.named_count === null || l.named_count === undefined ? '—' : String(l.named_count)),
          h('dt', {}, 'Refusals'), h('dd', { dataset: { field: 'refusals' } }, refusals),
          h('dt', {}, 'Seats used'), h('dd', { dataset: { field: 'used' } }, `${used} / ${l.seats} (${pct} %)`)),
        h('div', { class: 'meter', dataset: { level: lv }, role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': l.seats,
          'aria-valuenow': used, 'aria-label': `${l.license_id} seats used` },
        h('span', { style: `width:${Math.min(100, pct)}%` })));
    }));
    if (!lics.length) usageBox.append(h('p', { class: 'empty' }, 'No license covers this period.'));
    if (data.warning && !messages.length) messages.push({ lv: 'warning', text: data.warning });
    warnBox.hidden = !messages.length;
    warnBox.dataset.level = messages.some((m) => m.lv === 'critical') ? 'critical' : 'warning';
    warnBox.replaceChildren(...messages.map((m) => h('div', {}, m.text)));
    drawChart(lics);
  };

  const drawChart = (lics) => {
    if (typeof window.Chart === 'undefined') return;
    const days = [...new Set(lics.flatMap((l) => (l.daily || []).map((d) => d.date)))].sort();
    const datasets = [];
    for (const l of lics) {
      const by = Object.fromEntries((l.daily || []).map((d) => [d.date, d]));
      if (l.model === 'named') {
        datasets.push({ type: 'bar', label: `${l.license_id}: new named agents`, data: days.map((d) => by[d]?.named_new ?? 0) });
      } else {
        datasets.push({ type: 'line', label: `${l.license_id}: peak concurrent`, data: days.map((d) => by[d]?.peak_concurrent ?? 0) });
        datasets.push({ type: 'line', label: `${l.license_id}: seats`, data: days.map(() => l.seats), borderDash: [6, 4], pointRadius: 0 });
      }
    }
    if (chart) chart.destroy();
    chart = new window.Chart(canvas, {
      data: { labels: days, datasets },
      options: { responsive: true, maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true } } },
    });
  };

  const loadUsage = async () => {
    clearError(usageErr);
    try {
      const q = periodInput.value ? `?period=${encodeURIComponent(periodInput.value)}` : '';
      renderUsage(await api(`/api/v1/licenses/usage${q}`));
    } catch (err) {
      showError(usageErr, err);
    }
  };

  usageForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    loadUsage();
  });
  onSubmit(form, errBox, async () => {
    notice.hidden = true;
    const file = document.getElementById('license-file').files[0];
    const raw = file ? await file.text() : document.getElementById('license-doc').value.trim();
    if (!raw) {
      showError(errBox, { code: 'invalid_json', message: 'choose a license file or paste the document' });
      return;
    }
    const r = await api('/api/v1/licenses', { method: 'POST', rawBody: raw });
    const lic = (r.items || [])[0] || {};
    showNotice(notice, `Uploaded ${lic.license_id || 'license'}.`);
    form.reset();
    await Promise.all([loadList(), loadUsage()]);
  });
  loadList();
  loadUsage();
}
