// <taskgate-progress job-id="..." api-base="/taskgate/" socket-path="/ws/jobs/">: a live bar
// for one job, for any page (the `{% taskgate_progress job_id %}` template tag renders it).
//
// Every element with the same socket URL shares one TaskgateClient (one socket per page),
// which reconnects and re-watches with `after` by itself. The element renders in its own
// light DOM (class names prefixed `taskgate-`, no shadow root, so the page's CSS applies)
// and mirrors the job on attributes for CSS and tests: `data-state` (pending, queued,
// running, retrying, success, failure, cancelled, or gone when the server answered
// not_found / forbidden), `data-percent` (absent while the total is unknown),
// `data-stalled` (present while the job is stalled: the time of its last progress) and
// `data-error` (the code of a refused watch).
//
// What is shown is computed by `progressView` (pure: job view in, view model out); the
// element only copies the view model into its nodes.

import { TaskgateClient } from "./client.js";
import { formatEta, formatRate, stalledText } from "./progress-text.js";
import { SessionJobs } from "./session-jobs.js";
import { isTerminal } from "./sequence.js";
import { DEFAULT_API_BASE, DEFAULT_SOCKET_PATH, artifactUrl, normalizeBase, socketUrl } from "./urls.js";

export const TAG_NAME = "taskgate-progress";

export const STATE_LABELS = Object.freeze({
  pending: "Waiting",
  queued: "Queued",
  running: "Running",
  retrying: "Retrying",
  success: "Done",
  failure: "Failed",
  cancelled: "Cancelled",
  gone: "Unavailable",
});

const REFUSALS = Object.freeze({
  forbidden: "This job belongs to someone else: it cannot be shown here.",
  not_found: "No such job: it never existed or its result has expired.",
  unauthorized: "Sign in to follow this job.",
});

const CONNECTION_NOTES = Object.freeze({
  connecting: "Connecting…",
  reconnecting: "Reconnecting…",
  closed: "Disconnected.",
});

// --- the view model (pure) -------------------------------------------------------------

export { formatEta, formatRate, stalledText } from "./progress-text.js";

/** A JSON value on one short line (cut with "…" past `limit` characters). */
export function shortJson(value, limit = 200) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    text = String(value);
  }
  if (text === undefined) text = "null";
  return text.length > limit ? `${text.slice(0, Math.max(0, limit - 1))}…` : text;
}

/** The bar's value, 0 to 100 rounded to a tenth, or null while the total is unknown. */
export function barPercent(state, progress) {
  if (state === "success") return 100;
  const percent = progress?.percent;
  if (typeof percent !== "number" || !Number.isFinite(percent)) return null;
  return Math.round(Math.max(0, Math.min(100, percent)) * 10) / 10;
}

/**
 * What the element shows for a job (pure).
 *
 * `job` is a JobHandle's view (`{jobId, job, state, progress, result, error}`) or anything
 * with those fields; `refusal` the server's `{code, message}` refusal of the watch, if any;
 * `status` the client's connection status.
 */
export function progressView({
  jobId = "",
  job = null,
  state = null,
  progress = null,
  result = null,
  error = null,
  stalledSince = null,
  refusal = null,
  status = null,
  apiBase = DEFAULT_API_BASE,
  now = Date.now(),
} = {}) {
  const gone = refusal?.code === "not_found" || refusal?.code === "forbidden";
  const shownState = gone ? "gone" : (state ?? "pending");
  const terminal = isTerminal(state);
  const percent = gone ? null : barPercent(state, progress);
  const view = {
    jobId,
    job,
    state: shownState,
    label: STATE_LABELS[shownState] ?? String(shownState),
    percent,
    percentText: percent === null ? "" : `${percent} %`,
    message: !terminal && !gone && typeof progress?.message === "string" ? progress.message : "",
    rate: "",
    eta: "",
    stalled: "",
    stalledSince: null,
    result: null,
    error: null,
    notice: "",
    errorCode: refusal?.code ?? null,
  };
  if (!terminal && !gone && (state === "running" || state === "retrying")) {
    view.rate = formatRate(progress?.rate, progress?.unit);
    view.eta = formatEta(progress?.eta);
  }
  if (!terminal && !gone && state === "running" && stalledSince) {
    view.stalledSince = stalledSince;
    view.stalled = stalledText(stalledSince, now);
  }
  if (state === "success") {
    const artifact = result && typeof result === "object" ? result.artifact : null;
    if (artifact && typeof artifact === "object" && typeof artifact.name === "string") {
      const rest = { ...result };
      delete rest.artifact;
      view.result = {
        json: Object.keys(rest).length ? shortJson(rest) : "",
        artifact: { href: artifactUrl(jobId, apiBase), name: artifact.name },
      };
    } else {
      view.result = { json: shortJson(result), artifact: null };
    }
  } else if (state === "failure") {
    const type = error?.type ?? "Error";
    const text = type === "lost" ? "The worker running this job died." : (error?.message ?? "");
    view.error = text ? `${type}: ${text}` : String(type);
  } else if (state === "retrying" && error) {
    view.error = `${error.type ?? "Error"}: ${error.message ?? ""} (retrying)`;
  }
  if (!jobId) {
    view.notice = "No job id given.";
  } else if (refusal) {
    view.notice = REFUSALS[refusal.code] ?? `${refusal.code}: ${refusal.message ?? "refused"}`;
  } else if (!terminal && CONNECTION_NOTES[status]) {
    view.notice = CONNECTION_NOTES[status];
  }
  return view;
}

// --- one shared client per socket URL -----------------------------------------------------

const pool = new Map(); // socket URL -> {client, users}
const watchers = new WeakMap(); // client -> Map(jobId -> number of elements watching it)

/**
 * The page's client for `url` (made on first use, with `options` passed to it then; the
 * element's jobs are not kept in sessionStorage: the element knows its job id).
 */
export function sharedClient(url, { apiBase = DEFAULT_API_BASE, ...options } = {}) {
  let entry = pool.get(url);
  if (!entry) {
    const client = new TaskgateClient({ url, apiBase, storage: new SessionJobs(null), ...options });
    entry = { client, users: 0 };
    pool.set(url, entry);
  }
  return entry.client;
}

function retain(client, jobId) {
  for (const entry of pool.values()) if (entry.client === client) entry.users += 1;
  if (!watchers.has(client)) watchers.set(client, new Map());
  const counts = watchers.get(client);
  counts.set(jobId, (counts.get(jobId) ?? 0) + 1);
}

function release(client, jobId) {
  const counts = watchers.get(client);
  if (counts) counts.set(jobId, (counts.get(jobId) ?? 1) - 1);
  for (const entry of pool.values()) if (entry.client === client) entry.users -= 1;
  // Later, not now: an element moved in the page is disconnected and connected again at once.
  setTimeout(() => {
    if (counts && counts.get(jobId) === 0) {
      counts.delete(jobId);
      client.forget(jobId);
    }
    for (const [url, entry] of pool) {
      if (entry.client === client && entry.users === 0) {
        pool.delete(url);
        client.close();
      }
    }
  }, 0);
}

// --- the element ----------------------------------------------------------------------------

const Base = globalThis.HTMLElement ?? class {};

export class TaskgateProgress extends Base {
  static observedAttributes = ["job-id", "api-base", "socket-path"];

  /** A client to use instead of the shared one (set before the element is connected). */
  client = null;

  #nodes = null;
  #attached = null; // {client, jobId, handle, off: [...], shared}
  #refusal = null;
  #ticker = null; // counts "no progress for N s" up while the job is stalled

  #tickWhileStalled(stalled) {
    if (stalled && this.#ticker === null && this.isConnected) {
      this.#ticker = setInterval(() => this.render(), 1000);
    } else if (!stalled && this.#ticker !== null) {
      clearInterval(this.#ticker);
      this.#ticker = null;
    }
  }

  get jobId() {
    return (this.getAttribute("job-id") ?? "").trim();
  }
  get apiBase() {
    return normalizeBase(this.getAttribute("api-base"), DEFAULT_API_BASE);
  }
  get socketUrl() {
    const path = (this.getAttribute("socket-path") ?? "").trim() || DEFAULT_SOCKET_PATH;
    return socketUrl(path, globalThis.location);
  }
  /** The JobHandle shown (null while disconnected or without a job id). */
  get handle() {
    return this.#attached?.handle ?? null;
  }
  /** What is shown now (see progressView). */
  get view() {
    const attached = this.#attached;
    return progressView({
      ...(attached?.handle?.view ?? {}),
      jobId: this.jobId,
      refusal: this.#refusal,
      status: attached?.client.status ?? null,
      apiBase: this.apiBase,
    });
  }

  connectedCallback() {
    if (!this.#nodes) this.#build();
    this.#attach();
  }

  disconnectedCallback() {
    this.#detach();
    this.#tickWhileStalled(false);
  }

  attributeChangedCallback(name, previous, value) {
    if (previous === value || !this.#nodes || !this.isConnected) return;
    this.#detach();
    this.#attach();
  }

  #attach() {
    this.#refusal = null;
    const jobId = this.jobId;
    if (!jobId) {
      this.render();
      return;
    }
    const client = this.client ?? sharedClient(this.socketUrl, { apiBase: this.apiBase });
    retain(client, jobId);
    const handle = client.watch(jobId);
    const attached = { client, jobId, handle, off: [] };
    this.#attached = attached;
    attached.off.push(
      handle.on("event", () => {
        if (!handle.gone) this.#refusal = null; // watched again after a refusal
        this.render();
      }),
      handle.on("error", (refusal) => {
        this.#refusal = refusal;
        this.render();
      }),
      client.on("status", () => this.render()),
    );
    if (client.status === "idle" || client.status === "closed") client.connect();
    this.render();
  }

  #detach() {
    const attached = this.#attached;
    if (!attached) return;
    this.#attached = null;
    for (const off of attached.off) off();
    release(attached.client, attached.jobId);
  }

  #build() {
    const doc = this.ownerDocument ?? globalThis.document;
    const el = (tag, className) => {
      const node = doc.createElement(tag);
      node.className = className;
      return node;
    };
    const nodes = {
      head: el("div", "taskgate-head"),
      state: el("span", "taskgate-state"),
      percent: el("span", "taskgate-percent"),
      bar: el("progress", "taskgate-bar"),
      line: el("div", "taskgate-line"),
      message: el("span", "taskgate-message"),
      rate: el("span", "taskgate-rate"),
      eta: el("span", "taskgate-eta"),
      separator: el("span", "taskgate-separator"),
      stalled: el("p", "taskgate-stalled"),
      outcome: el("div", "taskgate-outcome"),
      result: el("code", "taskgate-result"),
      download: el("a", "taskgate-download"),
      error: el("p", "taskgate-error"),
      notice: el("p", "taskgate-notice"),
    };
    nodes.bar.setAttribute("max", "100");
    nodes.message.setAttribute("aria-live", "polite");
    nodes.notice.setAttribute("role", "status");
    nodes.head.append(nodes.state, doc.createTextNode(" "), nodes.percent);
    nodes.line.append(nodes.message, doc.createTextNode(" "), nodes.eta, nodes.separator, nodes.rate);
    nodes.outcome.append(nodes.download, nodes.result, nodes.error);
    this.replaceChildren(nodes.head, nodes.bar, nodes.line, nodes.stalled, nodes.outcome, nodes.notice);
    this.classList?.add("taskgate-progress");
    this.#nodes = nodes;
  }

  /** Copy the current view into the nodes (called on every change of the job). */
  render() {
    const nodes = this.#nodes;
    if (!nodes) return;
    const view = this.view;
    this.setAttribute("data-state", view.state);
    if (view.percent === null) this.removeAttribute("data-percent");
    else this.setAttribute("data-percent", String(view.percent));
    if (view.errorCode) this.setAttribute("data-error", view.errorCode);
    else this.removeAttribute("data-error");
    this.setAttribute("aria-busy", String(!isTerminal(view.state) && view.state !== "gone"));
    nodes.state.textContent = view.label;
    nodes.percent.textContent = view.percentText;
    if (view.percent === null) {
      nodes.bar.removeAttribute("value"); // indeterminate: the total is unknown
    } else {
      nodes.bar.setAttribute("value", String(view.percent));
    }
    nodes.bar.setAttribute("aria-label", `${view.job ?? "Job"} progress`);
    nodes.bar.setAttribute(
      "aria-valuetext",
      view.percentText ? `${view.label}, ${view.percentText}` : view.label,
    );
    nodes.message.textContent = view.message;
    nodes.rate.textContent = view.rate;
    nodes.rate.hidden = !view.rate;
    nodes.eta.textContent = view.eta;
    nodes.eta.hidden = !view.eta;
    nodes.separator.textContent = " · ";
    nodes.separator.hidden = !(view.eta && view.rate);
    nodes.stalled.textContent = view.stalled;
    nodes.stalled.hidden = !view.stalled;
    if (view.stalledSince) this.setAttribute("data-stalled", view.stalledSince);
    else this.removeAttribute("data-stalled");
    this.#tickWhileStalled(Boolean(view.stalled));
    nodes.line.hidden = !view.message && !view.rate && !view.eta;
    const artifact = view.result?.artifact ?? null;
    nodes.download.hidden = !artifact;
    if (artifact) {
      nodes.download.setAttribute("href", artifact.href);
      nodes.download.setAttribute("download", artifact.name);
      nodes.download.textContent = artifact.name;
    } else {
      nodes.download.removeAttribute("href");
      nodes.download.removeAttribute("download");
      nodes.download.textContent = "";
    }
    nodes.result.textContent = view.result?.json ?? "";
    nodes.result.hidden = !view.result?.json;
    nodes.error.textContent = view.error ?? "";
    nodes.error.hidden = !view.error;
    nodes.outcome.hidden = !view.result && !view.error;
    nodes.notice.textContent = view.notice;
    nodes.notice.hidden = !view.notice;
  }
}

const BASE_STYLES = `
:where(taskgate-progress) { display: block; }
:where(taskgate-progress .taskgate-bar) { display: block; width: 100%; }
:where(taskgate-progress .taskgate-download, taskgate-progress .taskgate-result) { display: block; }
:where(taskgate-progress .taskgate-result) { overflow-wrap: anywhere; }
:where(taskgate-progress .taskgate-error) { color: #cf222e; margin: 0; }
:where(taskgate-progress .taskgate-notice) { margin: 0; }
:where(taskgate-progress [hidden]) { display: none; }
`;

/**
 * A few zero-specificity rules (block display, a full-width bar), adopted once as a
 * constructed stylesheet: no <style> element, so a strict Content-Security-Policy is fine,
 * and any rule of the page wins over them.
 */
function adoptBaseStyles(doc = globalThis.document) {
  if (!doc || !("adoptedStyleSheets" in doc) || typeof globalThis.CSSStyleSheet !== "function") return;
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(BASE_STYLES);
    doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
  } catch {
    // An old browser: the element works unstyled.
  }
}

/** Register <taskgate-progress> (once; a no-op where it is already defined or there is no DOM). */
export function define(name = TAG_NAME, registry = globalThis.customElements) {
  if (!registry || registry.get(name)) return false;
  registry.define(name, name === TAG_NAME ? TaskgateProgress : class extends TaskgateProgress {});
  if (name === TAG_NAME) adoptBaseStyles();
  return true;
}

if (globalThis.customElements) define();
