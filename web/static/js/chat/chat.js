// The customer's web chat on the /customer namespace. The org comes from the URL (/chat/{org});
// the chat token from chat:start is kept in sessionStorage so a reload resumes the same chat.

import { io } from "/vendor/socket.io-client/dist/socket.io.esm.min.js";
import { h, replace } from "../common/dom.js";
import { clockTime, duration, errorText } from "../common/format.js";

const POLL_MS = 3000;
const WAITING = new Set(["queued", "offered"]);
const LIVE = new Set(["queued", "offered", "connected"]);

const org = decodeURIComponent(location.pathname.split("/")[2] ?? "");
const tokenKey = `switchboard.chat.${org}`;
const $ = (id) => document.getElementById(id);
const els = {
  status: $("chat-status"), start: $("start-view"), startError: $("start-error"), conv: $("conversation-view"),
  body: $("chat-body"), transcript: $("chat-transcript"), compose: $("chat-compose"), text: $("chat-text"),
  error: $("chat-error"), end: $("chat-end"), ended: $("ended-view"), endedReason: $("ended-reason"),
  again: $("chat-again"),
};

let chatToken = sessionStorage.getItem(tokenKey);
let state = null;
let agentName = null;
let poller = null;

const socket = io("/customer", {
  auth: (cb) => cb(chatToken ? { org, chat_token: chatToken } : { org }),
});
window.switchboardChat = { socket };

async function call(event, data) {
  try {
    const ack = await socket.timeout(8000).emitWithAck(event, data);
    return ack ?? { ok: false, error: { code: "no_answer", message: "No answer." } };
  } catch {
    return { ok: false, error: { code: "timeout", message: "No answer from the server; check your connection." } };
  }
}

function view(name) {
  els.start.hidden = name !== "start";
  els.conv.hidden = name !== "conversation";
  els.ended.hidden = name !== "ended";
}

function status(text) {
  els.status.textContent = text;
}

function waitingText(position, ewt) {
  const where = position ? `You are number ${position} in the queue.` : "You are in the queue.";
  const wait = ewt !== null && ewt !== undefined ? ` Estimated wait: ${ewt < 60 ? "under a minute" : `about ${duration(ewt)}`}.` : "";
  return where + wait;
}

function showState(s) {
  state = s.state;
  if (state === "queued") status(waitingText(s.position, s.estimated_wait_s));
  else if (state === "offered") status("Connecting you to an agent…");
  else if (state === "connected") status(agentName ? `You are chatting with ${agentName}.` : "You are chatting with an agent.");
  if (WAITING.has(state)) startPolling();
  else stopPolling();
}

function line(m) {
  const who = m.from === "customer" ? "You" : m.from === "agent" ? (agentName ?? "Agent") : "";
  return h("li", { class: `msg from-${m.from}` },
    who ? h("span", { class: "sender" }, who) : null, " ",
    h("time", { datetime: m.at ?? "" }, clockTime(m.at)),
    h("p", { class: "text" }, m.text));
}

function say(m) {
  els.transcript.append(line(m));
  els.body.scrollTop = els.body.scrollHeight;
}

function startPolling() {
  if (poller) return;
  poller = setInterval(async () => {
    if (!socket.connected || !chatToken) return;
    const ack = await call("chat:status");
    if (ack.ok) handleStatus(ack, false);
  }, POLL_MS);
}

function stopPolling() {
  clearInterval(poller);
  poller = null;
}

function forget() {
  chatToken = null;
  sessionStorage.removeItem(tokenKey);
  stopPolling();
}

function ended(reasonText) {
  forget();
  state = "ended";
  els.endedReason.textContent = reasonText;
  status("The chat has ended.");
  view("ended");
  els.again.focus();
}

/** A chat:status answer: resume the conversation (with its transcript) or close it. */
function handleStatus(s, withTranscript) {
  if (!LIVE.has(s.state)) {
    if (state !== "ended") ended("This conversation is closed.");
    return;
  }
  if (withTranscript) replace(els.transcript, (s.transcript ?? []).map(line));
  view("conversation");
  showState(s);
}

socket.on("connect", async () => {
  if (!chatToken) {
    if (state === null) {
      status("Welcome! Tell us who you are and we will connect you with an agent.");
      view("start");
      $("start-name").focus();
    }
    return;
  }
  const ack = await call("chat:status");
  if (ack.ok) handleStatus(ack, true);
  else {
    forget();
    view("start");
  }
});

socket.on("connect_error", (err) => {
  if (socket.active) {
    status("Connection lost — reconnecting…");
    return;
  }
  if (chatToken) {
    // an expired or foreign chat token: start fresh rather than stay locked out
    forget();
    socket.connect();
    return;
  }
  status(`Chat is unavailable: ${err?.data?.message ?? err?.message ?? "refused"}.`);
});

socket.on("disconnect", (reason) => {
  if (reason !== "io client disconnect") status("Connection lost — reconnecting…");
});

socket.on("agent:joined", ({ display_name: name }) => {
  agentName = name || "An agent";
  say({ from: "system", text: `${agentName} joined the chat.`, at: new Date().toISOString() });
  view("conversation");
  showState({ state: "connected" });
});

socket.on("message", (m) => say({ from: m.from ?? "agent", text: m.text, at: m.at }));

const ENDED_BECAUSE = {
  agent: "The agent ended the chat. Thank you for contacting us.",
  customer: "You ended the chat.",
  max_wait: "Sorry, no agent became free in time. Please try again later.",
};
let leaving = false;

socket.on("chat:ended", ({ reason }) => {
  if (leaving) return; // our own chat:end; its ack says what to show
  ended(ENDED_BECAUSE[reason] ?? `The chat was closed (${String(reason).replaceAll("_", " ")}).`);
});

els.start.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  els.startError.textContent = "";
  const name = $("start-name").value.trim();
  const email = $("start-email").value.trim();
  const message = $("start-message").value.trim();
  const body = { name: name || null };
  if (email) body.identity = { type: "email", value: email };
  if (message) body.message = message;
  const button = els.start.querySelector("button");
  button.disabled = true;
  const ack = await call("chat:start", body);
  button.disabled = false;
  if (!ack.ok) {
    els.startError.textContent = errorText(ack.error);
    return;
  }
  if (ack.chat_token) {
    chatToken = ack.chat_token;
    sessionStorage.setItem(tokenKey, chatToken);
  }
  agentName = null;
  replace(els.transcript);
  if (message) say({ from: "customer", text: message, at: new Date().toISOString() });
  view("conversation");
  showState(ack);
  els.text.focus();
});

async function send() {
  const text = els.text.value.trim();
  if (!text) return;
  els.error.textContent = "";
  const ack = await call("message:send", { text });
  if (!ack.ok) {
    els.error.textContent = errorText(ack.error);
    return;
  }
  els.text.value = "";
  say({ from: "customer", text, at: ack.at });
}

els.compose.addEventListener("submit", (ev) => {
  ev.preventDefault();
  send();
});
els.text.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    send();
  }
});

els.end.addEventListener("click", async () => {
  els.end.disabled = true;
  const wasWaiting = WAITING.has(state);
  leaving = true;
  const ack = await call("chat:end");
  leaving = false;
  els.end.disabled = false;
  if (!ack.ok && ack.error?.code !== "no_chat") {
    els.error.textContent = errorText(ack.error);
    return;
  }
  ended(wasWaiting ? "You left the queue." : "You ended the chat.");
});

els.again.addEventListener("click", () => {
  state = null;
  agentName = null;
  replace(els.transcript);
  status("Tell us who you are and we will connect you with an agent.");
  view("start");
  $("start-name").focus();
});
