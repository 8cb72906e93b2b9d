// Tiny DOM builders shared by the console pages: no framework, just elements with text.

/** h('td', {class: 'x', dataset: {id: 1}}, 'text', child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Set text only when it changed, so a diff touches as little of the page as possible. */
export function setText(el, text) {
  const t = String(text);
  if (el && el.textContent !== t) el.textContent = t;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—';
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  const two = (n) => String(n).padStart(2, '0');
  return hh ? `${hh}:${two(mm)}:${two(ss)}` : `${mm}:${two(ss)}`;
}

export function percent(x) {
  return x === null || x === undefined ? '—' : `${Math.round(x * 1000) / 10} %`;
}

/** "sales:5, billing:3" ⇄ {sales: 5, billing: 3} */
export function parsePairs(text) {
  const out = {};
  for (const part of String(text || '').split(',')) {
    const p = part.trim();
    if (!p) continue;
    const [k, v] = p.split(':').map((x) => x.trim());
    if (!k || v === undefined || v === '' || Number.isNaN(Number(v))) {
      throw new Error(`"${p}" is not name:number`);
    }
    out[k] = Number(v);
  }
  return out;
}

export function formatPairs(obj) {
  return Object.entries(obj || {})
    .map(([k, v]) => `${k}:${v}`)
    .join(', ');
}
