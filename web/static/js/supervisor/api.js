// REST access for the console pages (supervisor, admin, reports): bearer token from
// sessionStorage, JSON in and out, and the API's {"error":{code,message,details}} as an ApiError.

// Same key as js/common/api.js, so a sign-in on any page of the tab carries over.
const SESSION_KEY = 'switchboard.auth';

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function currentSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    return null;
  }
}

export function saveSession(s) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

/** Parse an error body; anything that is not the API's error shape still becomes an ApiError. */
async function toError(resp) {
  let body = null;
  try {
    body = await resp.json();
  } catch {
    /* not JSON */
  }
  const e = body && body.error;
  if (e && typeof e === 'object') return new ApiError(resp.status, e.code, e.message, e.details);
  return new ApiError(resp.status, `http_${resp.status}`, resp.statusText || 'request failed', null);
}

/**
 * Call the API. `body` is sent as JSON unless `opts.rawBody` (a string) is given.
 * Returns the parsed JSON (or text when `opts.text`). A 401 ends the session.
 */
export async function api(method, path, body, opts = {}) {
  const s = currentSession();
  const headers = { Accept: opts.text ? 'text/csv, */*' : 'application/json' };
  if (s && s.token) headers.Authorization = `Bearer ${s.token}`;
  let payload;
  if (opts.rawBody !== undefined) {
    payload = opts.rawBody;
    headers['Content-Type'] = 'application/json';
  } else if (body !== undefined && body !== null) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: payload });
  } catch (err) {
    throw new ApiError(0, 'network_error', `cannot reach the server (${err.message})`, null);
  }
  if (!resp.ok) {
    const e = await toError(resp);
    if (resp.status === 401 && !opts.noLogout) {
      clearSession();
      document.dispatchEvent(new CustomEvent('console:logged-out', { detail: e }));
    }
    throw e;
  }
  if (opts.blob) return resp.blob();
  if (opts.text) return resp.text();
  if (resp.status === 204) return null;
  return resp.json();
}

/** Show an API error next to a form (the element is a role="alert" box). */
export function showError(el, err) {
  if (!el) return;
  el.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = err.code ? `${err.code}: ` : 'Error: ';
  el.append(strong, document.createTextNode(err.message || String(err)));
  const d = err.details;
  if (Array.isArray(d) && d.every((x) => x && typeof x === 'object' && 'msg' in x)) {
    // pydantic validation errors: one line per field
    const ul = document.createElement('ul');
    for (const x of d) {
      const li = document.createElement('li');
      li.textContent = `${(x.loc || []).join('.') || 'body'}: ${x.msg}`;
      ul.append(li);
    }
    el.append(ul);
  } else if (d) {
    const pre = document.createElement('pre');
    pre.textContent = typeof d === 'string' ? d : JSON.stringify(d, null, 2);
    el.append(pre);
  }
  el.hidden = false;
}

export function showNotice(el, text) {
  if (!el) return;
  el.textContent = text;
  el.hidden = false;
}

export function clearError(el) {
  if (!el) return;
  el.replaceChildren();
  el.hidden = true;
}
