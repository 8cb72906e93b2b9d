// Offer cards: who is waiting, on which channel and queue, for how long, and how long the agent
// has left to answer. Accept / Reject go to the server; the server decides what happens next.

import { h, replace } from "../common/dom.js";
import { duration, humanize } from "../common/format.js";

export class OfferList {
  /** onAccept(offer) / onReject(offer) resolve to the ack. */
  constructor({ container, empty, onAccept, onReject }) {
    this.container = container;
    this.empty = empty;
    this.onAccept = onAccept;
    this.onReject = onReject;
    this.cards = new Map();
  }

  /** Replace every card with the server's list (on connect and reconnect). */
  reset(offers) {
    this.cards.clear();
    replace(this.container);
    for (const o of offers ?? []) this.add(o);
    this._empty();
  }

  /** Returns true when the offer is new. */
  add(offer) {
    if (this.cards.has(offer.offer_id)) return false;
    const card = this._card(offer);
    this.cards.set(offer.offer_id, { offer, card });
    this.container.prepend(card);
    this._empty();
    return true;
  }

  remove(offerId) {
    const entry = this.cards.get(offerId);
    if (!entry) return null;
    entry.card.remove();
    this.cards.delete(offerId);
    this._empty();
    return entry.offer;
  }

  removeInteraction(interactionId) {
    for (const [id, { offer }] of this.cards) {
      if (offer.interaction?.id === interactionId) this.remove(id);
    }
  }

  _empty() {
    this.empty.hidden = this.cards.size > 0;
  }

  _card(offer) {
    const it = offer.interaction ?? {};
    const who = it.customer?.name || "Customer";
    const titleId = `offer-title-${offer.offer_id}`;
    const waitedSince = it.enqueued_at ?? new Date(Date.now() - (it.wait_s ?? 0) * 1000).toISOString();
    const accept = h("button", { type: "button", class: "primary", "data-action": "accept" }, "Accept");
    const reject = h("button", { type: "button", "data-action": "reject" }, "Reject");
    const error = h("p", { class: "form-error", role: "alert" });
    const act = async (fn) => {
      accept.disabled = reject.disabled = true;
      error.textContent = "";
      const ack = await fn(offer);
      if (ack?.ok) {
        this.remove(offer.offer_id);
      } else {
        accept.disabled = reject.disabled = false;
        error.textContent = ack?.error?.message ?? "The server refused.";
      }
    };
    accept.addEventListener("click", () => act(this.onAccept));
    reject.addEventListener("click", () => act(this.onReject));
    return h("article", { class: "offer-card card", "aria-labelledby": titleId, dataset: {
      offerId: offer.offer_id, interactionId: it.id ?? "" } },
      h("h3", { id: titleId }, `${who}`),
      h("dl", { class: "facts" },
        h("dt", {}, "Channel"), h("dd", { class: "offer-channel" }, humanize(it.channel ?? "")),
        h("dt", {}, "Queue"), h("dd", { class: "offer-queue" }, it.queue ?? ""),
        it.subject ? [h("dt", {}, "Subject"), h("dd", {}, it.subject)] : null,
        it.priority ? [h("dt", {}, "Priority"), h("dd", {}, String(it.priority))] : null,
        h("dt", {}, "Waiting"), h("dd", { "data-since": waitedSince }, duration(it.wait_s ?? 0)),
        h("dt", {}, "Answer within"),
        h("dd", { class: "countdown", "data-deadline": offer.expires_at ?? "", "data-expired-text": "expiring…" },
          offer.expires_at ? "" : "—")),
      h("div", { class: "actions" }, accept, reject),
      error);
  }
}
