// Tiny DOM builders shared by the console pages (supervisor, admin, reports): no framework, just
// elements with text, and the role="alert" / role="status" boxes their forms report into.

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

/** Show an API error next to a form (the element is a role="alert" box). */
export function showError(el, err) {
  if (!el) return;
  el.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = err.code ? `${err.code}: ` : 'Error: ';
  el.append(strong, document.createTextNode(err.message || String(err)));
  const d = err.details;
  if (Array.isArray(d) && d.every((x) => x && typeof x === 'object' && 'msg' in x)) {
    // pydantic validation errors: one line per field
    const ul = document.createElement('ul');
    for (const x of d) {
      const li = document.createElement('li');
      li.textContent = `${(x.loc || []).join('.') || 'body'}: ${x.msg}`;
      ul.append(li);
    }
    el.append(ul);
  } else if (d) {
    const pre = document.createElement('pre');
    pre.textContent = typeof d === 'string' ? d : JSON.stringify(d, null, 2);
    el.append(pre);
  }
  el.hidden = false;
}

export function showNotice(el, text) {
  if (!el) return;
  el.textContent = text;
  el.hidden = false;
}

export function clearError(el) {
  if (!el) return;
  el.replaceChildren();
  el.hidden = true;
}

/**
 * A console form's submit: no page load, its error box cleared, then `run()`; whatever run throws
 * (an ApiError) is shown in the error box.
 */
export function onSubmit(form, errBox, run) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError(errBox);
    try {
      await run();
    } catch (err) {
      showError(errBox, err);
    }
  });
}
