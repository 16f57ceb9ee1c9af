// Where taskgate lives (pure: no DOM, no I/O).
//
// A project mounts taskgate's HTTP URLs under a prefix of its own, the "API base" (`/` for
// the standalone gateway, `/taskgate/` for `path("taskgate/", include("taskgate.urls"))`),
// and its WebSocket route wherever its Channels router puts it (`/ws/jobs/` by default).
// Every URL the client, the page and the progress element use is built here.

export const DEFAULT_API_BASE = "/";
export const DEFAULT_SOCKET_PATH = "/ws/jobs/";

const HAS_SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * `value` as an API base: a path (or absolute URL) that ends in "/". An empty or missing
 * value gives `fallback`; a path without a leading "/" gets one (a relative prefix would
 * resolve against the page's own path).
 */
export function normalizeBase(value, fallback = DEFAULT_API_BASE) {
  let text = typeof value === "string" ? value.trim() : "";
  if (text === "") return fallback;
  if (!HAS_SCHEME.test(text) && !text.startsWith("/")) text = `/${text}`;
  return text.endsWith("/") ? text : `${text}/`;
}

/** `${apiBase}api/${path}`, e.g. apiUrl("/taskgate/", "job-types"). */
export function apiUrl(apiBase, path) {
  return `${normalizeBase(apiBase)}api/${path}`;
}

/** A job's endpoint: `${apiBase}api/jobs/{id}` and, with `suffix`, `/{suffix}` after it. */
export function jobUrl(apiBase, jobId, suffix = "") {
  const url = apiUrl(apiBase, `jobs/${encodeURIComponent(jobId)}`);
  return suffix ? `${url}/${suffix}` : url;
}

/** Where a job's file result is downloaded: `${apiBase}api/jobs/{id}/artifact`. */
export function artifactUrl(jobId, apiBase = DEFAULT_API_BASE) {
  return jobUrl(apiBase, jobId, "artifact");
}

/**
 * The ws(s):// URL of the v1 endpoint: `socketPath` on this page's host, with wss: on an
 * https: page. A `socketPath` that is already a ws(s):// URL is used as it is (and an
 * http(s):// one gets the matching ws scheme).
 */
export function socketUrl(socketPath = DEFAULT_SOCKET_PATH, location = globalThis.location) {
  let path = typeof socketPath === "string" ? socketPath.trim() : "";
  if (path === "") path = DEFAULT_SOCKET_PATH;
  if (/^wss?:\/\//i.test(path)) return path;
  if (/^https?:\/\//i.test(path)) return path.replace(/^http/i, "ws");
  if (!path.startsWith("/")) path = `/${path}`;
  if (!location) return path;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

/**
 * Where the page's taskgate lives, from the attributes the template puts on <html> (or any
 * element): `data-taskgate-api` (the API base) and `data-taskgate-socket` (the WebSocket
 * path). Absent or empty attributes (a context without them renders "") give the defaults.
 */
export function pageConfig(root) {
  const read = (name) => {
    const value = root?.getAttribute?.(name);
    return typeof value === "string" ? value.trim() : "";
  };
  return {
    apiBase: normalizeBase(read("data-taskgate-api"), DEFAULT_API_BASE),
    socketPath: read("data-taskgate-socket") || DEFAULT_SOCKET_PATH,
  };
}
