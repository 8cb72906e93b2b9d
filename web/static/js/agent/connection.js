// The /agent socket: connects with the bearer token, reconnects by itself, shows a banner,
// and wraps every emit in an ack with a timeout so no action fails silently. A connect refused
// with service_unavailable (the server cannot reach its live state) is retried with a backoff;
// a session the server ended (the user deactivated, their password or role changed) is reported
// as refused, with the server's reason.

import { io } from "/vendor/socket.io-client/dist/socket.io.esm.min.js";

const ACK_TIMEOUT_MS = 8000;
const UNAVAILABLE_RETRY_MAX_MS = 10000;

export class AgentConnection {
  /**
   * banner: element showing the connection state; onRefused(error) when the server refuses the
   * connection (bad token, no license seat) — Socket.IO does not retry those.
   */
  constructor({ token, banner, onRefused }) {
    this.banner = banner;
    this.onRefused = onRefused;
    this.everConnected = false;
    this.unavailableTries = 0;
    this.ended = null; // the server's session:ended {code, reason, message}, just before it disconnects
    this.socket = io("/agent", { auth: { token }, reconnectionDelay: 500, reconnectionDelayMax: 4000 });
    this.socket.on("connect", () => this._connected());
    this.socket.on("session:ended", (e) => {
      this.ended = e;
    });
    this.socket.on("disconnect", (reason) => this._lost(reason));
    this.socket.on("connect_error", (err) => this._failed(err));
    this.socket.io.on("reconnect_attempt", (n) => this._show("warn", `Connection lost — reconnecting (attempt ${n})…`));
    this._show("info", "Connecting…");
  }

  on(event, fn) {
    this.socket.on(event, fn);
  }

  /** Emit with an ack; resolves to the ack, or to {ok:false, error} on timeout. */
  async call(event, data) {
    try {
      const ack = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, data);
      return ack ?? { ok: false, error: { code: "no_answer", message: "The server sent an empty answer." } };
    } catch {
      return { ok: false, error: { code: "timeout", message: "No answer from the server; check the connection." } };
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this._retryTimer);
    this.socket.disconnect();
    this.banner.hidden = true;
  }

  _show(kind, text) {
    this.banner.hidden = false;
    this.banner.className = `connection connection-${kind}`;
    this.banner.textContent = text;
    this.banner.dataset.state = kind;
    clearTimeout(this._hideTimer);
  }

  _connected() {
    this._show("ok", this.everConnected ? "Reconnected." : "Connected.");
    this.everConnected = true;
    this.unavailableTries = 0;
    this._hideTimer = setTimeout(() => {
      this.banner.hidden = true;
    }, 2500);
  }

  _lost(reason) {
    if (reason === "io client disconnect") return;
    if (reason === "io server disconnect") {
      // Socket.IO does not reconnect after the server disconnects: either the session ended, or retry
      if (this.ended) {
        const message = this.ended.message ?? "Your session was ended by the server.";
        this._show("error", message);
        this.onRefused?.({ code: "unauthorized", message, details: { reason: this.ended.reason, advice: message } });
        return;
      }
      this._show("warn", "Disconnected by the server — reconnecting…");
      this._retryLater(1000);
      return;
    }
    this._show("warn", "Connection lost — reconnecting…");
  }

  _retryLater(delayMs) {
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => {
      if (!this.closed) this.socket.connect();
    }, delayMs);
  }

  _failed(err) {
    if (this.socket.active) {
      this._show("warn", "Cannot reach the server — retrying…");
      return;
    }
    const data = err?.data ?? { code: "unauthorized", message: err?.message ?? "connection refused" };
    if (data.code === "service_unavailable") {
      // the server is up but cannot reach Redis or PostgreSQL for now: not a refusal, try again
      const delay = Math.min(1000 * 2 ** this.unavailableTries, UNAVAILABLE_RETRY_MAX_MS);
      this.unavailableTries += 1;
      this._show("warn", `The server is temporarily unavailable — retrying in ${Math.round(delay / 1000)} s…`);
      this._retryLater(delay);
      return;
    }
    this._show("error", `Connection refused: ${data.message ?? data.code}`);
    this.onRefused?.(data);
  }
}
