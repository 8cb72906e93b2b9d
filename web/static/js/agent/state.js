// The agent's status: a selector (Available / Not ready with an idle code) and a badge that
// always shows what the server says, including states the system sets (rona, wrap_up).

import { h, replace } from "../common/dom.js";
import { humanize } from "../common/format.js";

const SYSTEM_CODES = new Set(["rona"]);

function label(state, idleCode, codes) {
  if (state === "not_ready") {
    const code = codes.find((c) => c.code === idleCode);
    if (idleCode === "rona") return "Not ready · RONA";
    return `Not ready · ${code?.label ?? humanize(idleCode ?? "")}`;
  }
  if (state === "wrap_up") return "Wrap-up";
  return humanize(state);
}

export class StateControl {
  /** onChange({state, idle_code}) must resolve to the ack. */
  constructor({ select, badge, load, onChange }) {
    this.select = select;
    this.badge = badge;
    this.load = load;
    this.onChange = onChange;
    this.codes = [];
    this.current = { state: "logged_out", idle_code: null, load: {} };
    select.addEventListener("change", () => this._changed());
  }

  setCodes(codes) {
    this.codes = codes ?? [];
    this.show(this.current);
  }

  show({ state, idle_code = null, load = this.current.load }) {
    this.current = { state, idle_code, load: load ?? {} };
    const value = state === "not_ready" ? `not_ready:${idle_code}` : state;
    const options = [h("option", { value: "available" }, "Available")];
    for (const c of this.codes) {
      if (SYSTEM_CODES.has(c.code)) continue;
      options.push(h("option", { value: `not_ready:${c.code}` }, `Not ready — ${c.label}`));
    }
    if (!options.some((o) => o.value === value)) {
      options.push(h("option", { value, disabled: true }, label(state, idle_code, this.codes)));
    }
    replace(this.select, options);
    this.select.value = value;
    this.badge.textContent = label(state, idle_code, this.codes);
    this.badge.title = idle_code === "rona" ? "An offer was not answered in time (RONA)" : "";
    this.badge.dataset.state = state;
    this.badge.dataset.idleCode = idle_code ?? "";
    const busy = Object.entries(this.current.load).filter(([, n]) => Number(n) > 0);
    this.load.textContent = busy.map(([ch, n]) => `${ch} ${n}`).join(" · ");
  }

  async _changed() {
    const [state, code] = this.select.value.split(":");
    this.select.disabled = true;
    try {
      const ack = await this.onChange({ state, idle_code: code ?? null });
      if (ack?.ok) this.show({ state: ack.state ?? state, idle_code: ack.idle_code ?? code ?? null });
      else this.show(this.current);
    } finally {
      this.select.disabled = false;
    }
  }
}
