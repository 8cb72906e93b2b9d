// The customer's profile beside a conversation: name, identities and past interactions.

import { api } from "../common/api.js";
import { h, replace } from "../common/dom.js";
import { dateTime, humanize } from "../common/format.js";

/** Fill `aside` with the profile of interaction.customer; a missing profile is shown, not an error. */
export async function showProfile(aside, interaction) {
  const customer = interaction.customer ?? {};
  const heading = h("h3", {}, "Customer");
  replace(aside, heading, h("p", { class: "profile-name" }, customer.name || "Unknown customer"),
    h("p", { class: "muted" }, "Loading profile…"));
  if (!customer.id) {
    replace(aside, heading, h("p", { class: "profile-name" }, customer.name || "Unknown customer"),
      h("p", { class: "muted" }, "No profile on file."));
    return;
  }
  let profile;
  try {
    profile = await api(`/api/v1/customers/${encodeURIComponent(customer.id)}`);
  } catch (e) {
    const why = e.status === 404 ? "No profile on file." : `Profile unavailable (${e.code}).`;
    replace(aside, heading, h("p", { class: "profile-name" }, customer.name || "Unknown customer"),
      h("p", { class: "muted" }, why));
    return;
  }
  const attrs = Object.entries(profile.attributes ?? {});
  const past = (profile.interactions ?? []).filter((i) => i.id !== interaction.id);
  replace(aside, heading,
    h("p", { class: "profile-name" }, profile.name || customer.name || "Unknown customer",
      profile.attributes?.vip ? h("span", { class: "badge badge-vip" }, "VIP") : null),
    h("h4", {}, "Identities"),
    (profile.identities ?? []).length
      ? h("ul", { class: "identities" }, profile.identities.map((i) => h("li", {}, `${humanize(i.type)}: ${i.value}`)))
      : h("p", { class: "muted" }, "None"),
    attrs.length ? [h("h4", {}, "Attributes"), h("dl", { class: "facts" },
      attrs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))]))]
      : null,
    h("h4", {}, "Past interactions"),
    past.length
      ? h("ul", { class: "history" }, past.map((i) => h("li", {},
        h("span", {}, dateTime(i.created_at)), " ",
        h("span", {}, `${humanize(i.channel)} · ${i.queue}`), " ",
        h("span", { class: "muted" }, i.wrap_up_code ? `${humanize(i.state)} (${i.wrap_up_code})` : humanize(i.state)))))
      : h("p", { class: "muted" }, "None"));
}
