// The wrap-up dialog of an ended conversation: a code from the org's list, notes, and the time
// left before the server completes it on its own.

import { h } from "../common/dom.js";

/** onSubmit({code, notes}) resolves to the ack. deadlineMs may be null (unknown after a reload). */
export function wrapUpForm({ interactionId, codes, deadlineMs, reason, onSubmit }) {
  const titleId = `wrapup-title-${interactionId}`;
  const selectId = `wrapup-code-${interactionId}`;
  const notesId = `wrapup-notes-${interactionId}`;
  const select = h("select", { id: selectId, name: "code", required: true },
    h("option", { value: "" }, "Choose a code…"),
    (codes ?? []).map((c) => h("option", { value: c.code }, c.label)));
  const notes = h("textarea", { id: notesId, name: "notes", rows: 3, maxlength: 5000 });
  const error = h("p", { class: "form-error", role: "alert" });
  const save = h("button", { type: "submit", class: "primary" }, "Save wrap-up");
  const timer = deadlineMs
    ? h("p", { class: "wrapup-timer" }, "Completes automatically in ",
      h("strong", { class: "countdown", "data-deadline": String(deadlineMs), "data-expired-text": "now" }, ""))
    : h("p", { class: "wrapup-timer muted" }, "Wrap-up in progress; it completes automatically.");
  const form = h("form", { class: "wrapup card", role: "dialog", "aria-labelledby": titleId },
    h("h3", { id: titleId }, "Wrap-up"),
    reason ? h("p", { class: "muted" }, `Conversation ended (${reason}).`) : null,
    timer,
    h("label", { for: selectId }, "Wrap-up code"), select,
    h("label", { for: notesId }, "Notes"), notes,
    h("div", { class: "actions" }, save), error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!select.value) {
      error.textContent = "Choose a wrap-up code.";
      select.focus();
      return;
    }
    save.disabled = true;
    error.textContent = "";
    const ack = await onSubmit({ code: select.value, notes: notes.value.trim() || null });
    if (!ack?.ok) {
      save.disabled = false;
      error.textContent = ack?.error?.message ?? "The server refused.";
    }
  });
  return { form, focus: () => select.focus() };
}
