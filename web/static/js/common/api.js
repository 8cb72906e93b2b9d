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

/** fetch() a JSON API route; resolves to the parsed body, rejects with ApiError on 4xx/5xx. */
export async function api(path, { method = "GET", body, auth = token(), headers = {} } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (auth) h.Authorization = `Bearer ${auth}`;
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "network_error", "The server could not be reached.", String(e));
  }
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
    throw new ApiError(res.status, e.code ?? `http_${res.status}`, e.message ?? res.statusText, e.details);
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
