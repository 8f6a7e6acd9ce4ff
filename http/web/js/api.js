// The REST API under /api/v1, and the signed-in session.
//
// The session (user, access and refresh tokens) is kept in localStorage so a
// reload stays signed in. An access token is refreshed shortly before it
// expires, judged by `expires_in` against this device's own clock (never
// the token's `exp`, which is the server's clock), and once more when the
// server answers `invalid_token`. Refresh tokens are single use: one refresh
// runs at a time and every caller waits for it.

const STORAGE_KEY = 'blytz.session';
const REFRESH_MARGIN_MS = 60_000;

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let session = load();
const listeners = new Set();
let refreshing = null;

function load() {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function save() {
  try {
    if (session) localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    else localStorage.removeItem(STORAGE_KEY);
  } catch { /* private mode: the session lives as long as the page */ }
}

// Another tab signed in or out.
window.addEventListener('storage', (event) => {
  if (event.key !== STORAGE_KEY) return;
  const before = session?.user?.id;
  session = load();
  if (session?.user?.id !== before) notify();
});

function notify() {
  for (const fn of listeners) fn(currentUser());
}

/** The signed-in user ({id, email, display_name, role}) or null. */
export function currentUser() {
  return session?.user ?? null;
}

/** Call `fn(user)` whenever the user signs in or out; returns an unsubscribe. */
export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Keep an auth answer ({user, access_token, refresh_token, expires_in}). */
export function setSession(auth) {
  const changed = session?.user?.id !== auth.user.id;
  session = {
    user: auth.user,
    access_token: auth.access_token,
    refresh_token: auth.refresh_token,
    expires_at: Date.now() + auth.expires_in * 1000,
  };
  save();
  if (changed) notify();
}

/** Forget the session (and tell the server the refresh token is spent). */
export async function signOut() {
  const old = session;
  session = null;
  save();
  notify();
  if (old) {
    try {
      await fetch('/api/v1/auth/logout', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${old.access_token}` },
        body: JSON.stringify({ refresh_token: old.refresh_token }),
      });
    } catch { /* offline: the token expires on its own */ }
  }
}

async function refresh() {
  if (!session?.refresh_token) return null;
  if (!refreshing) {
    const token = session.refresh_token;
    refreshing = (async () => {
      try {
        const res = await fetch('/api/v1/auth/refresh', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refresh_token: token }),
        });
        if (res.ok) {
          setSession(await res.json());
          return session.access_token;
        }
        if (res.status === 401 || res.status === 403) {
          // Spent or revoked: signed out for good.
          session = null;
          save();
          notify();
        }
        return null;
      } catch {
        return null; // offline: try again later
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

/** A valid access token (refreshed when close to expiry), or null. */
export async function accessToken() {
  if (!session) return null;
  if (Date.now() > session.expires_at - REFRESH_MARGIN_MS) {
    const fresh = await refresh();
    if (fresh) return fresh;
    return session && Date.now() < session.expires_at ? session.access_token : null;
  }
  return session.access_token;
}

/**
 * Call the API: `api('POST', '/shows', body)`. Answers the JSON body (null
 * for 204); throws ApiError with the server's code, or code `offline` when
 * the server could not be reached.
 */
export async function api(method, path, body, { auth = true, headers = {} } = {}) {
  const send = async (token) => {
    const init = { method, headers: { accept: 'application/json', ...headers } };
    if (token) init.headers.authorization = `Bearer ${token}`;
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    try {
      return await fetch(`/api/v1${path}`, init);
    } catch {
      throw new ApiError(0, 'offline', 'You are offline. Check your connection and try again.');
    }
  };
  let token = auth ? await accessToken() : null;
  let res = await send(token);
  if (res.status === 401 && token) {
    token = await refresh();
    if (token) res = await send(token);
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch { /* not JSON */ }
  if (!res.ok) {
    const error = data?.error ?? {};
    throw new ApiError(res.status, error.code ?? 'http_error',
      error.message ?? `The server answered ${res.status}.`, error.details ?? {});
  }
  return data;
}

export const get = (path, options) => api('GET', path, undefined, options);
export const post = (path, body, options) => api('POST', path, body ?? {}, options);
export const put = (path, body, options) => api('PUT', path, body, options);
export const del = (path, options) => api('DELETE', path, undefined, options);

let clientConfig = null;

/** What this server offers: {version, livekit, stripe, payments}. */
export async function config() {
  if (!clientConfig) {
    clientConfig = get('/client-config', { auth: false }).catch((e) => {
      clientConfig = null;
      throw e;
    });
  }
  return clientConfig;
}

/** A message a person can act on, for an ApiError or anything else. */
export function explain(error) {
  if (error instanceof ApiError) {
    if (error.code === 'validation_failed' && error.details?.field) {
      return `${error.message}`;
    }
    return error.message;
  }
  return 'Something went wrong. Please try again.';
}
