// The fallback transport for networks where WebSockets never open (a proxy that strips the
// Upgrade header, say): submit and cancel through the JSON API, events through Server-Sent
// Events (`GET {apiBase}api/jobs/{id}/events`, `id:` = seq). The same frames as the socket's
// arrive, so the job handles apply them exactly as they would the socket's.

import { DEFAULT_API_BASE, apiUrl, jobUrl, normalizeBase } from "./urls.js";

/** The value of the `csrftoken` cookie (Django asks for it on session-authenticated writes). */
export function csrfToken(cookies = globalThis.document?.cookie ?? "") {
  for (const part of cookies.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "csrftoken") return decodeURIComponent(rest.join("="));
  }
  return "";
}

export function defaultBase(location = globalThis.location) {
  if (!location) return ""; // no page (node): relative URLs
  return `${location.protocol}//${location.host}`;
}

/**
 * `base` is the origin the requests go to (this page's by default); `apiBase` the path where
 * the project mounts taskgate's URLs, ending in "/" (`/` by default: `/api/jobs`; with
 * `/taskgate/`: `/taskgate/api/jobs`). An absolute `apiBase` (`https://jobs.example/tg/`)
 * is used as it is.
 */
export class HttpTransport {
  constructor({
    base = defaultBase(),
    apiBase = DEFAULT_API_BASE,
    fetchImpl = globalThis.fetch?.bind(globalThis),
    EventSourceImpl = globalThis.EventSource,
    cookies = () => globalThis.document?.cookie ?? "",
  } = {}) {
    this.base = base;
    this.apiBase = normalizeBase(apiBase);
    this.fetchImpl = fetchImpl;
    this.EventSourceImpl = EventSourceImpl;
    this.cookies = cookies;
  }

  /** The absolute URL of an API path built by urls.js (it starts with the API base). */
  #url(path) {
    return /^[a-z][a-z0-9+.-]*:|^\/\//i.test(path) ? path : `${this.base}${path}`;
  }

  /** POST a JSON body; resolves with the decoded answer, rejects with {code, message, details}. */
  async #post(path, body) {
    const response = await this.fetchImpl(this.#url(path), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(this.cookies()) },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(answer.message ?? `HTTP ${response.status}`);
      error.code = answer.code ?? "unavailable";
      error.details = answer.details ?? null;
      throw error;
    }
    return answer;
  }

  /** The `accepted` frame of a new job. */
  submit(job, params) {
    return this.#post(apiUrl(this.apiBase, "jobs"), { job, params });
  }

  cancel(jobId) {
    return this.#post(jobUrl(this.apiBase, jobId, "cancel"), {});
  }

  /**
   * Follow a job's events from `after` on; `onFrame` gets each frame. The browser's
   * EventSource reconnects by itself with Last-Event-ID; the caller closes the stream
   * after the job's end (the server ends it there, and EventSource would reopen it).
   */
  watch(jobId, after, onFrame) {
    const query = after >= 0 ? `?after=${after}` : "";
    const source = new this.EventSourceImpl(
      this.#url(`${jobUrl(this.apiBase, jobId, "events")}${query}`),
      { withCredentials: true },
    );
    source.onmessage = (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        console.warn("taskgate: an event that is not JSON", message.data);
        return;
      }
      onFrame(frame);
    };
    return { close: () => source.close() };
  }
}
