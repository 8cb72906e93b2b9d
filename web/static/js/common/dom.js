// A tiny element builder so pages never assemble HTML strings (text always goes in as text).

/**
 * h("button", {class: "primary", onclick: fn, "aria-label": "Accept"}, "Accept")
 * Attributes starting with "on" become listeners; null/false attributes are skipped;
 * children may be strings, nodes, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replace all children of el. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Short-lived message in an aria-live region; kind is "info" | "error" | "ok". */
export function notify(region, text, kind = "info", ms = 6000) {
  const item = h("p", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : null }, text);
  region.prepend(item);
  if (ms > 0) setTimeout(() => item.remove(), ms);
  while (region.children.length > 5) region.lastElementChild.remove();
  return item;
}
