// Open conversations, one tab each: transcript, reply box, transfer, End, then the wrap-up
// dialog; the customer's profile alongside. The server's session snapshot rebuilds it all.

import { api } from "../common/api.js";
import { h, notify, replace } from "../common/dom.js";
import { clockTime, humanize } from "../common/format.js";
import { showProfile } from "./profile.js";
import { wrapUpForm } from "./wrapup.js";

const DEADLINES_KEY = "switchboard.wrapupDeadlines";
// What a reply on a provider channel (SMS, WhatsApp, ...) has become; web chat is live, so has none.
const RECEIPTS = {
  saving: "Waiting for the database — sent once it is back",
  sending: "Sending…",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
  failed: "Not delivered",
};
const LIVE_CHANNELS = new Set(["chat", "voice"]);

function loadDeadlines() {
  try {
    return JSON.parse(sessionStorage.getItem(DEADLINES_KEY) || "{}");
  } catch {
    return {};
  }
}

export class ConversationDesk {
  /**
   * call(event, data) → ack; codes() → the org's wrap-up codes; transferTargets() → Promise of
   * {queues: [...names], agents: [{id, name}]} for the transfer suggestions.
   */
  constructor({ tabs, panels, empty, notices, call, codes, transferTargets }) {
    this.tabs = tabs;
    this.panels = panels;
    this.empty = empty;
    this.notices = notices;
    this.call = call;
    this.codes = codes;
    this.transferTargets = transferTargets;
    this.open = new Map();
    this.selected = null;
    this.drafts = new Map();
    this.deadlines = loadDeadlines();
    tabs.addEventListener("keydown", (ev) => this._tabKeys(ev));
  }

  /** The server's list of conversations replaces ours (connect and every reconnect). */
  reset(interactions) {
    const keep = new Set((interactions ?? []).map((i) => i.id));
    for (const id of [...this.open.keys()]) if (!keep.has(id)) this._remove(id);
    for (const it of interactions ?? []) this._upsert(it, it.transcript ?? [], false);
    if (!this.selected || !this.open.has(this.selected)) this.select(this.open.keys().next().value ?? null);
    this._pruneDeadlines();
    this._empty();
  }

  /** interaction:connected: a new conversation, shown at once; what was said while it waited is fetched. */
  connected(interaction) {
    const isNew = !this.open.has(interaction.id);
    this._upsert(interaction, interaction.transcript ?? this.open.get(interaction.id)?.transcript ?? [], true);
    if (isNew) notify(this.notices, `Connected with ${interaction.customer?.name || "the customer"}.`, "ok");
    this._empty();
    if (!interaction.transcript) this._fetchTranscript(interaction.id);
  }

  async _fetchTranscript(id) {
    const c = this.open.get(id);
    if (!c) return;
    const liveBefore = c.transcript.length;
    let stored;
    try {
      stored = (await api(`/api/v1/interactions/${encodeURIComponent(id)}`)).transcript ?? [];
    } catch (e) {
      notify(this.notices, `Could not load the earlier messages: ${e.message}`, "error");
      return;
    }
    if (this.open.get(id) !== c) return;
    // messages that arrived live while we fetched may or may not be in the stored list
    const key = (m) => `${m.from}\u0000${m.text}`;
    const seen = new Set(stored.map(key));
    const late = c.transcript.slice(liveBefore).filter((m) => !seen.has(key(m)));
    c.transcript = [...stored, ...late];
    replace(c.list, c.transcript.map((m) => this._line(c, m)));
    c.list.scrollTop = c.list.scrollHeight;
  }

  message(m) {
    const c = this.open.get(m.interaction_id);
    if (!c) return;
    const entry = { id: m.id ?? null, from: m.from, text: m.text, at: m.at, status: m.status ?? null };
    c.transcript.push(entry);
    c.list.append(this._line(c, entry));
    c.list.scrollTop = c.list.scrollHeight;
    if (this.selected !== m.interaction_id) {
      c.unread += 1;
      this._tabLabel(c);
    }
  }

  /** message:status: a reply's receipt from the provider (or the outbox giving up on it). A reply
   * saved only after a database outage gets its id here: the oldest one still waiting takes it. */
  status({ interaction_id: iid, message_id: mid, status }) {
    const c = this.open.get(iid);
    if (!c) return;
    const m = c.transcript.find((x) => x.id === mid)
      ?? c.transcript.find((x) => x.from === "agent" && x.id == null && x.status === "saving");
    if (!m) return;
    m.id = mid;
    m.status = status;
    m.el?.replaceWith(this._line(c, m));
  }

  /** interaction:ended → the wrap-up dialog with its countdown (a transfer just closes the tab). */
  ended({ interaction_id: id, reason, wrap_up_s: wrapS }) {
    const c = this.open.get(id);
    if (!c) return;
    if (reason === "transferred") {
      this._remove(id);
      notify(this.notices, `Transferred: ${c.it.customer?.name || "conversation"} left your desk.`, "info");
      this._empty();
      return;
    }
    if (!this.deadlines[id] && Number(wrapS) > 0) {
      this.deadlines[id] = Date.now() + Number(wrapS) * 1000;
      this._saveDeadlines();
    }
    c.reason = reason;
    c.it.state = "wrap_up";
    this._renderComposer(c);
    this._tabLabel(c);
    if (reason === "customer") notify(this.notices, `${c.it.customer?.name || "The customer"} left the chat.`, "info");
    if (this.selected === id) c.focusWrapUp?.();
  }

  completed({ interaction_id: id, code, auto }) {
    const c = this.open.get(id);
    if (!c) return;
    this._remove(id);
    const who = c.it.customer?.name || "Conversation";
    notify(this.notices, auto ? `${who}: wrap-up time ran out; completed automatically.`
      : `${who}: completed (${code ?? "no code"}).`, "ok");
    this._empty();
  }

  select(id) {
    this.selected = id;
    for (const [cid, c] of this.open) {
      const on = cid === id;
      c.tab.setAttribute("aria-selected", String(on));
      c.tab.tabIndex = on ? 0 : -1;
      c.panel.hidden = !on;
      if (on && c.unread) {
        c.unread = 0;
        this._tabLabel(c);
      }
    }
  }

  // -- building --------------------------------------------------------------------------

  _upsert(it, transcript, focus) {
    let c = this.open.get(it.id);
    if (!c) {
      c = this._build(it);
      this.open.set(it.id, c);
      this.tabs.append(c.tab);
      this.panels.append(c.panel);
      showProfile(c.profile, it);
    }
    c.it = { ...c.it, ...it };
    c.transcript = [...transcript];
    replace(c.list, c.transcript.map((m) => this._line(c, m)));
    c.list.scrollTop = c.list.scrollHeight;
    this._renderHead(c);
    this._renderComposer(c);
    this._tabLabel(c);
    if (focus || !this.selected) {
      this.select(it.id);
      const typing = document.activeElement?.tagName === "TEXTAREA";
      if (focus && !typing) c.reply?.focus();
    } else {
      c.panel.hidden = this.selected !== it.id;
    }
  }

  _build(it) {
    const id = it.id;
    const tab = h("button", { type: "button", role: "tab", id: `tab-${id}`, "aria-controls": `panel-${id}`,
      "aria-selected": "false", tabIndex: -1, class: "tab", dataset: { interactionId: id } });
    tab.addEventListener("click", () => this.select(id));
    const head = h("header", { class: "conv-head" });
    const list = h("ol", { class: "transcript", "aria-live": "polite", "aria-label": "Transcript", tabIndex: 0 });
    const composer = h("div", { class: "composer" });
    const profile = h("aside", { class: "profile", "aria-label": "Customer profile" });
    const panel = h("section", { role: "tabpanel", id: `panel-${id}`, "aria-labelledby": `tab-${id}`,
      class: "conv-panel", hidden: true, dataset: { interactionId: id } },
    h("div", { class: "conv-main" }, head, list, composer), profile);
    return { it, transcript: [], tab, panel, head, list, composer, profile, unread: 0, reply: null };
  }

  _tabLabel(c) {
    const name = c.it.customer?.name || "Customer";
    replace(c.tab, h("span", { class: "tab-name" }, name), " ",
      h("span", { class: "tab-meta" }, `${humanize(c.it.channel ?? "")}${c.it.state === "wrap_up" ? " · wrap-up" : ""}`),
      c.unread ? h("span", { class: "unread", "aria-label": `${c.unread} unread` }, String(c.unread)) : null);
  }

  _renderHead(c) {
    replace(c.head,
      h("h3", {}, c.it.customer?.name || "Customer"),
      h("span", { class: "conv-meta" }, `${humanize(c.it.channel ?? "")} · queue ${c.it.queue ?? ""}`),
      c.it.subject ? h("span", { class: "conv-meta" }, c.it.subject) : null);
  }

  _line(c, m) {
    const who = m.from === "agent" ? "You" : m.from === "customer" ? (c.it.customer?.name || "Customer") : humanize(m.from);
    const receipt = m.from === "agent" && !LIVE_CHANNELS.has(c.it.channel) ? (m.status ?? "sending") : null;
    m.el = h("li", { class: `msg from-${m.from}`, dataset: m.id != null ? { messageId: String(m.id) } : {} },
      h("span", { class: "sender" }, who), " ",
      h("time", { datetime: m.at ?? "" }, clockTime(m.at)),
      h("p", { class: "text" }, m.text),
      receipt ? h("span", { class: "receipt", dataset: { status: receipt } }, RECEIPTS[receipt] ?? humanize(receipt)) : null);
    return m.el;
  }

  _renderComposer(c) {
    const id = c.it.id;
    if (c.it.state === "wrap_up") {
      if (c.composer.dataset.mode === "wrap_up") return;
      c.composer.dataset.mode = "wrap_up";
      c.reply = null;
      const { form, focus } = wrapUpForm({
        interactionId: id, codes: this.codes(), deadlineMs: this.deadlines[id] ?? null, reason: c.reason,
        onSubmit: (v) => this.call("interaction:wrap_up", { interaction_id: id, ...v }),
      });
      c.focusWrapUp = focus;
      replace(c.composer, form);
      return;
    }
    if (c.composer.dataset.mode === "reply") return;
    c.composer.dataset.mode = "reply";
    c.reply = h("textarea", { id: `reply-${id}`, name: "text", rows: 3, maxlength: 20000,
      placeholder: "Type a reply — Enter sends, Shift+Enter adds a line" });
    c.reply.value = this.drafts.get(id) ?? "";
    c.reply.addEventListener("input", () => this.drafts.set(id, c.reply.value));
    const send = h("button", { type: "submit", class: "primary" }, "Send");
    const error = h("p", { class: "form-error", role: "alert" });
    const form = h("form", { class: "reply" },
      h("label", { for: `reply-${id}` }, `Reply to ${c.it.customer?.name || "the customer"}`), c.reply,
      h("div", { class: "actions" }, send), error);
    const submit = async () => {
      const text = c.reply.value.trim();
      if (!text) return;
      send.disabled = true;
      error.textContent = "";
      const ack = await this.call("message:send", { interaction_id: id, text });
      send.disabled = false;
      if (!ack?.ok) {
        error.textContent = ack?.error?.message ?? "Not sent.";
        return;
      }
      c.reply.value = "";
      this.drafts.delete(id);
      // no id: the database is down and the reply waits in Redis to be saved (and sent, off web chat)
      this.message({ interaction_id: id, from: "agent", text, at: ack.at, id: ack.message_id,
        status: ack.message_id == null ? "saving" : null });
    };
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submit();
    });
    c.reply.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        submit();
      }
    });
    const end = h("button", { type: "button", class: "danger", "data-action": "end" }, "End conversation");
    end.addEventListener("click", async () => {
      end.disabled = true;
      const ack = await this.call("interaction:end", { interaction_id: id });
      if (!ack?.ok) {
        end.disabled = false;
        return;
      }
      this.ended({ interaction_id: id, reason: "agent", wrap_up_s: ack.wrap_up_s });
    });
    replace(c.composer, form, h("div", { class: "conv-actions" }, this._transferForm(c), end));
  }

  _transferForm(c) {
    const id = c.it.id;
    const kindName = `transfer-kind-${id}`;
    const targetId = `transfer-target-${id}`;
    const listId = `transfer-options-${id}`;
    const toQueue = h("input", { type: "radio", name: kindName, value: "queue", id: `${kindName}-q`, checked: true });
    const toAgent = h("input", { type: "radio", name: kindName, value: "agent", id: `${kindName}-a` });
    const targetLabel = h("label", { for: targetId }, "Queue name");
    const target = h("input", { id: targetId, type: "text", list: listId, required: true, autocomplete: "off" });
    const options = h("datalist", { id: listId });
    const error = h("p", { class: "form-error", role: "alert" });
    let targets = { queues: [], agents: [] };
    const fill = () => {
      const agent = toAgent.checked;
      targetLabel.textContent = agent ? "Agent (id)" : "Queue name";
      replace(options, agent
        ? targets.agents.map((a) => h("option", { value: a.id }, a.name))
        : targets.queues.filter((q) => q !== c.it.queue).map((q) => h("option", { value: q })));
    };
    toQueue.addEventListener("change", fill);
    toAgent.addEventListener("change", fill);
    const details = h("details", { class: "transfer" }, h("summary", {}, "Transfer…"));
    details.addEventListener("toggle", async () => {
      if (!details.open) return;
      targets = await this.transferTargets();
      fill();
      target.focus();
    });
    const form = h("form", { class: "transfer-form" },
      h("fieldset", {}, h("legend", {}, "Transfer to"),
        toQueue, h("label", { for: `${kindName}-q` }, "a queue"),
        toAgent, h("label", { for: `${kindName}-a` }, "an agent")),
      targetLabel, target, options,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Transfer")), error);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const value = target.value.trim();
      if (!value) return;
      error.textContent = "";
      const body = toAgent.checked ? { interaction_id: id, agent_id: value } : { interaction_id: id, queue: value };
      const ack = await this.call("interaction:transfer", body);
      if (!ack?.ok) error.textContent = ack?.error?.message ?? "Transfer refused.";
      else this.ended({ interaction_id: id, reason: "transferred", wrap_up_s: 0 });
    });
    details.append(form);
    return details;
  }

  // -- removal and keyboard ----------------------------------------------------------------

  _remove(id) {
    const c = this.open.get(id);
    if (!c) return;
    const wasSelected = this.selected === id;
    c.tab.remove();
    c.panel.remove();
    this.open.delete(id);
    this.drafts.delete(id);
    delete this.deadlines[id];
    this._saveDeadlines();
    if (wasSelected) this.select(this.open.keys().next().value ?? null);
  }

  _empty() {
    this.empty.hidden = this.open.size > 0;
  }

  _saveDeadlines() {
    sessionStorage.setItem(DEADLINES_KEY, JSON.stringify(this.deadlines));
  }

  _pruneDeadlines() {
    for (const id of Object.keys(this.deadlines)) if (!this.open.has(id)) delete this.deadlines[id];
    this._saveDeadlines();
  }

  _tabKeys(ev) {
    const ids = [...this.open.keys()];
    const at = ids.indexOf(this.selected);
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: ids.length - 1 }[ev.key];
    if (to === undefined || !ids.length) return;
    ev.preventDefault();
    const next = ids[(to + ids.length) % ids.length];
    this.select(next);
    this.open.get(next).tab.focus();
  }
}
