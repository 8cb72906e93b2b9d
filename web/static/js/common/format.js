// Formatting shared by the pages: durations, times, labels.

/** 75 → "1:15", 3725 → "1:02:05"; negative values show as 0:00. */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** Whole seconds from now until an ISO timestamp (0 once past), or null without one. */
export function secondsUntil(iso, now = Date.now()) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : Math.max(0, Math.ceil((t - now) / 1000));
}

/** "14:03" in the viewer's locale. */
export function clockTime(iso) {
  const d = iso ? new Date(iso) : new Date();
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** "2026-11-03 14:03" */
export function dateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.toLocaleDateString()} ${clockTime(iso)}`;
}

/** "not_ready" → "Not ready" */
export function humanize(code) {
  const s = String(code ?? "").replaceAll("_", " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The text of a server error ack or ApiError: "message (code)". */
export function errorText(error) {
  if (!error) return "Something went wrong.";
  const msg = error.message || "Something went wrong.";
  return error.code ? `${msg} (${error.code})` : msg;
}
