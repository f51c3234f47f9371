// HTTP API and live stream client. Auth: bearer token for HTTP, ?token= for the WebSocket.

const TOKEN_KEY = "dronewatch.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Take ``?token=`` from the address bar once: keep it in sessionStorage and remove it. */
export function adoptUrlToken() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }
}

export const auth = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** Called on any 401 (set by main.js to show the login box). */
let unauthorizedHandler = () => {};
export function onUnauthorized(fn) { unauthorizedHandler = fn; }

export async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = auth.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
    });
  } catch (err) {
    throw new ApiError(0, `network error: ${err.message}`);
  }
  if (resp.status === 401) {
    unauthorizedHandler();
    throw new ApiError(401, "unauthorized");
  }
  if (!resp.ok) {
    let detail = resp.statusText;
    try { detail = (await resp.json()).detail ?? detail; } catch { /* not JSON */ }
    throw new ApiError(resp.status, typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  if (resp.status === 204) return null;
  return resp.json();
}

/** Fetch a file with the token and hand it to the browser as a download. */
export async function download(path, filename) {
  const headers = {};
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  const resp = await fetch(path, { headers, cache: "no-store" });
  if (resp.status === 401) { unauthorizedHandler(); throw new ApiError(401, "unauthorized"); }
  if (!resp.ok) throw new ApiError(resp.status, resp.statusText);
  const url = URL.createObjectURL(await resp.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export const api = {
  me: () => request("GET", "/api/me"),
  config: () => request("GET", "/api/config"),
  zones: () => request("GET", "/api/zones"),
  sensors: () => request("GET", "/api/sensors"),
  drones: (params = {}) => request("GET", `/api/drones?${new URLSearchParams(params)}`),
  drone: (id, limit = 1) => request("GET", `/api/drones/${encodeURIComponent(id)}?limit=${limit}`),
  droneAlerts: (id) => request("GET", `/api/drones/${encodeURIComponent(id)}/alerts`),
  alerts: (params = {}) => request("GET", `/api/alerts?${new URLSearchParams(params)}`),
  ack: (id, comment = null) =>
    request("POST", `/api/alerts/${encodeURIComponent(id)}/ack`, { comment }),
  timeRange: () => request("GET", "/api/time-range"),
  history: (from, to) =>
    request("GET", `/api/history?${new URLSearchParams({ from: String(from), to: String(to) })}`),
};

/**
 * The live stream with automatic reconnect (exponential backoff, 1 s to 15 s).
 * ``handlers``: onMessage(msg), onState("connecting"|"live"|"reconnecting"|"offline"),
 * onReconnect() (after a drop, to resynchronise), onAuthFailure().
 */
export class LiveStream {
  constructor(handlers) {
    this.h = handlers;
    this.ws = null;
    this.backoff = 1000;
    this.timer = null;
    this.stopped = true;
    this.everOpened = false;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; }
    this.h.onState("offline");
  }

  connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const token = auth.token;
    const qs = token ? `?token=${encodeURIComponent(token)}` : "";
    this.h.onState(this.everOpened ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}/api/stream${qs}`);
    } catch {
      this.schedule();
      return;
    }
    this.ws = ws;
    let opened = false;
    let lastRx = Date.now();
    ws.onopen = () => {
      opened = true;
      // Keepalive: ping every 15 s; a socket silent for 45 s is dead, so reconnect.
      clearInterval(this.pinger);
      this.pinger = setInterval(() => {
        if (Date.now() - lastRx > 45000) { ws.close(); return; }
        try { ws.send(JSON.stringify({ kind: "ping" })); } catch { /* closing */ }
      }, 15000);
      this.backoff = 1000;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.h.onState("live");
      if (reconnected) this.h.onReconnect();
    };
    ws.onmessage = (ev) => {
      lastRx = Date.now();
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg && typeof msg === "object") this.h.onMessage(msg);
    };
    ws.onclose = (ev) => {
      clearInterval(this.pinger);
      this.ws = null;
      if (this.stopped) return;
      // 4401/1008: the server refused our token. Closed before opening: maybe the same.
      if (ev.code === 4401 || ev.code === 4403 || ev.code === 1008) {
        this.h.onAuthFailure();
        return;
      }
      if (!opened) this.h.onProbe?.();
      this.schedule();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  schedule() {
    if (this.stopped) return;
    this.h.onState(this.everOpened ? "reconnecting" : "connecting");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 15000);
  }
}
