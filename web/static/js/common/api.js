// The REST client every page shares: JSON in and out, the bearer token from sessionStorage,
// and the server's {error:{code,message,details}} turned into an ApiError.

const AUTH_KEY = "switchboard.auth";

/** The signed-in user as the login answer gave it, or null. Kept per browser tab (sessionStorage). */
export function currentAuth() {
  try {
    return JSON.parse(sessionStorage.getItem(AUTH_KEY) || "null");
  } catch {
    return null;
  }
}

export function saveAuth(login) {
  sessionStorage.setItem(AUTH_KEY, JSON.stringify(login));
}

export function clearAuth() {
  sessionStorage.removeItem(AUTH_KEY);
}

export function token() {
  return currentAuth()?.token ?? null;
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let sessionEnded = null;

/**
 * Pages that cannot go on without their session (the consoles) register here: a 401 for the tab's
 * own token forgets it and calls fn(error). Pages that register nothing handle 401s themselves.
 */
export function onSessionEnd(fn) {
  sessionEnded = fn;
}

/**
 * fetch() an API route; resolves to the parsed JSON body (or a Blob with as: "blob"), rejects with
 * ApiError on 4xx/5xx. `body` goes as JSON; `rawBody`, a string of JSON, goes as it is.
 */
export async function api(path, { method = "GET", body, rawBody, auth = token(), headers = {}, as = "json" } = {}) {
  const h = { Accept: "application/json", ...headers };
  const payload = rawBody !== undefined ? rawBody : body === undefined ? undefined : JSON.stringify(body);
  if (payload !== undefined) h["Content-Type"] = "application/json";
  if (auth) h.Authorization = `Bearer ${auth}`;
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: payload });
  } catch (e) {
    throw new ApiError(0, "network_error", "The server could not be reached.", String(e));
  }
  if (res.ok && as === "blob") return res.blob();
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { raw: text };
    }
  }
  if (!res.ok) {
    const e = data?.error ?? {};
    const error = new ApiError(res.status, e.code ?? `http_${res.status}`, e.message ?? (res.statusText || "request failed"),
      e.details);
    if (res.status === 401 && sessionEnded && auth && auth === token()) {
      clearAuth();
      sessionEnded(error);
    }
    throw error;
  }
  return data;
}

/** POST /api/v1/auth/login, remember the answer, return it. */
export async function logIn(email, password) {
  const login = await api("/api/v1/auth/login", { method: "POST", body: { email, password }, auth: null });
  saveAuth(login);
  return login;
}

/** Revoke the token on the server (best effort) and forget it here. */
export async function logOut() {
  const t = token();
  clearAuth();
  if (t) {
    try {
      await api("/api/v1/auth/logout", { method: "POST", auth: t });
    } catch {
      // the token is forgotten locally either way
    }
  }
}
