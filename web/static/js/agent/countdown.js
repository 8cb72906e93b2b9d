// One ticker for every clock on the desktop: elements with data-deadline (ISO or epoch ms) show
// the time left (data-expired-text when it runs out); elements with data-since show the time elapsed.

import { duration } from "../common/format.js";

function epochMs(value) {
  return /^\d+$/.test(value) ? Number(value) : Date.parse(value);
}

export function startCountdowns(root = document) {
  const tick = () => {
    const now = Date.now();
    for (const el of root.querySelectorAll("[data-deadline]")) {
      const t = epochMs(el.dataset.deadline);
      if (Number.isNaN(t)) continue;
      const left = Math.max(0, Math.ceil((t - now) / 1000));
      el.textContent = left > 0 ? duration(left) : (el.dataset.expiredText ?? "0:00");
      el.classList.toggle("urgent", left <= 5);
    }
    for (const el of root.querySelectorAll("[data-since]")) {
      const t = Date.parse(el.dataset.since);
      if (!Number.isNaN(t)) el.textContent = duration((now - t) / 1000);
    }
  };
  tick();
  return setInterval(tick, 250);
}
