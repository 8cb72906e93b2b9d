// The agent desktop: sign in, then everything shown comes from the /agent socket. On every
// (re)connect the server sends `session` and the desktop is rebuilt from it.

import { api, clearAuth, currentAuth, logOut } from "../common/api.js";
import { h, notify, replace } from "../common/dom.js";
import { errorText, humanize } from "../common/format.js";
import { loginForm } from "../common/login.js";
import { beep, notifyOffer, primeAlerts } from "./alerting.js";
import { AgentConnection } from "./connection.js";
import { ConversationDesk } from "./conversations.js";
import { startCountdowns } from "./countdown.js";
import { OfferList } from "./offers.js";
import { StateControl } from "./state.js";

const $ = (id) => document.getElementById(id);
const els = {
  loginView: $("login-view"), desktopView: $("desktop-view"), agentBar: $("agent-bar"),
  agentName: $("agent-name"), connection: $("connection"), logout: $("logout"), notices: $("notices"),
};

let conn = null;
let session = { idle_codes: [], wrap_up_codes: [] };
const knownQueues = new Set();
let staffQueues = null;

/** What the server errors say, in the notices region. */
function reportError(ack) {
  if (!ack?.ok) notify(els.notices, errorText(ack?.error), "error", 10000);
  return ack;
}

const call = async (event, data) => reportError(await conn.call(event, data));

const stateControl = new StateControl({
  select: $("state-select"), badge: $("state-badge"), load: $("load"),
  onChange: (s) => call("state:set", s),
});

const offers = new OfferList({
  container: $("offers"), empty: $("no-offers"),
  onAccept: (o) => call("offer:accept", { offer_id: o.offer_id }),
  onReject: (o) => call("offer:reject", { offer_id: o.offer_id }),
});

const desk = new ConversationDesk({
  tabs: $("tabs"), panels: $("panels"), empty: $("no-conversations"), notices: els.notices, call,
  codes: () => session.wrap_up_codes ?? [],
  transferTargets,
});

/** Queues to suggest: the REST list when this role may read it (agents get 403), else the ones seen. */
async function transferTargets() {
  if (staffQueues === null) {
    try {
      const r = await api("/api/v1/queues");
      staffQueues = (r.items ?? []).map((q) => q.name);
    } catch {
      staffQueues = [];
    }
  }
  let agents = [];
  try {
    const r = await api("/api/v1/users");
    agents = (r.items ?? []).filter((u) => u.role === "agent" && u.id !== session.agent_id)
      .map((u) => ({ id: u.id, name: u.display_name ?? u.email }));
  } catch {
    // agents may not list users: they type the agent id
  }
  return { queues: [...new Set([...staffQueues, ...knownQueues])].sort(), agents };
}

function remember(interaction) {
  if (interaction?.queue) knownQueues.add(interaction.queue);
}

function showLogin(message) {
  els.desktopView.hidden = true;
  els.agentBar.hidden = true;
  const form = loginForm({
    title: "Agent sign in", roles: ["agent"], beforeSubmit: primeAlerts,
    onLogin: () => startDesktop(),
  });
  replace(els.loginView, message ? h("p", { class: "notice notice-error", role: "alert" }, message) : null, form);
  els.loginView.hidden = false;
}

function startDesktop() {
  const auth = currentAuth();
  els.loginView.hidden = true;
  els.desktopView.hidden = false;
  els.agentBar.hidden = false;
  els.agentName.textContent = auth.display_name ?? "";
  conn?.close();
  conn = new AgentConnection({
    token: auth.token, banner: els.connection,
    onRefused: (e) => {
      conn?.close();
      if (e.code === "unauthorized" || e.code === "forbidden") clearAuth();
      // the server says what ended the session (deactivated, password or role changed) when it knows
      showLogin(e.details?.advice ?? `Could not connect: ${e.message ?? e.code} (${e.code}).`);
    },
  });
  window.switchboardDesktop.connection = conn;
  conn.on("session", (s) => {
    session = s;
    window.switchboardDesktop.sessions += 1;
    document.body.dataset.sessions = String(window.switchboardDesktop.sessions);
    stateControl.setCodes(s.idle_codes);
    stateControl.show({ state: s.state, idle_code: s.idle_code, load: s.load });
    for (const o of s.offers ?? []) remember(o.interaction);
    for (const i of s.interactions ?? []) remember(i);
    offers.reset(s.offers);
    desk.reset(s.interactions);
  });
  conn.on("agent:state", (s) => {
    const was = stateControl.current.state;
    stateControl.show(s);
    if (s.state === "not_ready" && s.idle_code === "rona") {
      notify(els.notices, "An offer was not answered in time: you are now Not ready (RONA).", "error", 15000);
    } else if (s.state === "logged_out" && was !== "logged_out") {
      // a forced logout is announced by the routing change and by the desktop's removal: say it once
      notify(els.notices, "You were logged out by a supervisor or an admin change.", "error", 0);
    }
  });
  conn.on("offer", (o) => {
    remember(o.interaction);
    if (offers.add(o)) {
      beep();
      notifyOffer(o);
    }
  });
  conn.on("offer:revoked", ({ offer_id: id, reason }) => {
    const o = offers.remove(id);
    if (o) {
      const why = reason === "timeout" ? "not answered in time" : humanize(reason);
      notify(els.notices, `Offer from ${o.interaction?.customer?.name || "a customer"} withdrawn (${why}).`, "info", 10000);
    }
  });
  conn.on("interaction:connected", ({ interaction }) => {
    remember(interaction);
    offers.removeInteraction(interaction.id);
    desk.connected(interaction);
  });
  conn.on("message", (m) => desk.message(m));
  conn.on("message:status", (m) => desk.status(m));
  conn.on("interaction:ended", (e) => desk.ended(e));
  conn.on("interaction:completed", (c) => desk.completed(c));
}

els.logout.addEventListener("click", async () => {
  els.logout.disabled = true;
  try {
    const ack = conn ? await call("state:set", { state: "logged_out" }) : { ok: true };
    if (!ack.ok) return;
    conn?.close();
    conn = null;
    await logOut();
    offers.reset([]);
    desk.reset([]);
    showLogin("You are logged out.");
  } finally {
    els.logout.disabled = false;
  }
});

// a reload keeps the token but not the user gesture audio needs
for (const ev of ["pointerdown", "keydown"]) document.addEventListener(ev, primeAlerts, { once: true });

window.switchboardDesktop = {
  sessions: 0,
  get socket() {
    return conn?.socket ?? null;
  },
};
startCountdowns();
if (currentAuth()?.role === "agent") startDesktop();
else showLogin();
