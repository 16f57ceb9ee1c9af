// The taskgate browser client: one WebSocket (to /ws/jobs/ by default), many jobs over it.
//
// It reconnects by itself (exponential backoff with full jitter, 0.5 s to 20 s), watches
// its unfinished jobs again with `after` = the last seq it has, drops whatever it has
// already applied, and pings so that a dead link is noticed within pingInterval +
// pongTimeout (25 s by default). The job ids of the tab live in sessionStorage, so a page
// reload can re-attach with restore(). Where WebSockets never open (sseAfterFailures
// attempts in a row), it falls back to the HTTP API and Server-Sent Events for the rest of
// the page's life. See frontend/README.md for the API.

import { Backoff } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { HttpTransport } from "./http-transport.js";
import { JobHandle } from "./job.js";
import { SessionJobs } from "./session-jobs.js";
import { DEFAULT_API_BASE, DEFAULT_SOCKET_PATH, artifactUrl, normalizeBase, socketUrl } from "./urls.js";

export { Backoff } from "./backoff.js";
export { Emitter } from "./emitter.js";
export { HttpTransport } from "./http-transport.js";
export { JobHandle } from "./job.js";
export { SessionJobs } from "./session-jobs.js";
export { DEFAULT_API_BASE, DEFAULT_SOCKET_PATH, artifactUrl, normalizeBase, socketUrl } from "./urls.js";

/** A refused request: `code` is the protocol's error code ("disconnected", "timeout" are ours). */
export class TaskgateError extends Error {
  constructor(code, message, details = null) {
    super(message);
    this.name = "TaskgateError";
    this.code = code;
    this.details = details;
  }
}

/** The ws(s):// URL of `socketPath` (default "/ws/jobs/") on this page's host. */
export function defaultUrl(location = globalThis.location, socketPath = DEFAULT_SOCKET_PATH) {
  return socketUrl(socketPath, location);
}

/**
 * Client events:
 *   "status"  ({status, retryIn, transport})  status: "connecting" | "open" | "reconnecting"
 *                                  | "closed"; transport: "websocket" | "sse"
 *   "job"     (handle)             a job handle was created (submit, watch or restore)
 *   "forget"  (jobId)              a job handle was dropped
 *   "message" (frame)              every frame from the server (for debugging)
 */
export class TaskgateClient extends Emitter {
  constructor({
    apiBase = DEFAULT_API_BASE,
    socketPath = DEFAULT_SOCKET_PATH,
    url = defaultUrl(globalThis.location, socketPath),
    WebSocketImpl = globalThis.WebSocket,
    storage = new SessionJobs(),
    backoff = new Backoff(),
    pingInterval = 15_000,
    pongTimeout = 10_000,
    requestTimeout = 15_000,
    sseAfterFailures = 3,
    http = globalThis.EventSource ? new HttpTransport({ apiBase }) : null,
  } = {}) {
    super();
    this.apiBase = normalizeBase(apiBase);
    this.socketPath = socketPath;
    this.url = url;
    this.WebSocketImpl = WebSocketImpl;
    this.storage = storage;
    this.backoff = backoff;
    this.pingInterval = pingInterval;
    this.pongTimeout = pongTimeout;
    this.requestTimeout = requestTimeout;
    this.sseAfterFailures = sseAfterFailures;
    this.http = http;
    this.transport = "websocket";
    this.status = "idle";
    this.jobs = new Map();
    this.socket = null;
    this.#onOnline = () => this.#retryNow();
  }

  #refs = 0;
  #pending = new Map(); // ref -> {resolve, reject, timer, job}
  #openWaiters = [];
  #cancels = new Set(); // job ids to cancel once connected
  #retryTimer = null;
  #pingTimer = null;
  #pongTimer = null;
  #lastFrameAt = 0;
  #stopped = true;
  #onOnline;
  #failedOpens = 0; // WebSocket attempts in a row that never opened
  #streams = new Map(); // job id -> SSE stream (transport "sse")

  /** Open the socket (and keep it open until close()); a no-op while already connected. */
  connect() {
    if (!this.#stopped) return this;
    this.#stopped = false;
    globalThis.addEventListener?.("online", this.#onOnline);
    if (!this.socket) this.#open();
    return this;
  }

  /** Close for good: no reconnect; pending submits are rejected. */
  close() {
    this.#stopped = true;
    globalThis.removeEventListener?.("online", this.#onOnline);
    clearTimeout(this.#retryTimer);
    this.#drop(1000);
    for (const stream of this.#streams.values()) stream.close();
    this.#streams.clear();
    for (const waiter of this.#openWaiters.splice(0)) {
      waiter.reject(new TaskgateError("disconnected", "the client was closed"));
    }
    this.#setStatus("closed");
  }

  /** Re-attach the jobs this tab had before a reload; returns their handles. */
  restore() {
    return this.storage.list().map((item) => this.watch(item.jobId, item));
  }

  /** Watch a job by id; the handle's events follow, starting with its snapshot. */
  watch(jobId, { job = null, startedAt = Date.now() } = {}) {
    let handle = this.jobs.get(jobId);
    if (handle) return handle;
    handle = new JobHandle(this, jobId, { job, startedAt });
    this.jobs.set(jobId, handle);
    this.storage.add(jobId, job, startedAt);
    this.emit("job", handle);
    if (this.status === "open") this.#watch(handle);
    return handle;
  }

  /** Submit a job; resolves with its handle once accepted, rejects with a TaskgateError. */
  async submit(job, params = {}) {
    await this.#whenOpen();
    if (this.transport === "sse") return this.#submitOverHttp(job, params);
    const ref = this.#ref("s");
    const accepted = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(ref);
        reject(new TaskgateError("timeout", "the server did not answer the submit in time"));
      }, this.requestTimeout);
      this.#pending.set(ref, { resolve, reject, timer, job });
    });
    this.#send({ op: "submit", job, params, ref });
    return accepted;
  }

  /** Cancel a job (sent now, or as soon as the socket is back). */
  cancel(jobId) {
    if (this.transport === "sse") {
      this.http.cancel(jobId).catch((error) => {
        this.jobs.get(jobId)?.refuse({ code: error.code, message: error.message });
      });
      return;
    }
    if (this.status === "open") this.#send({ op: "cancel", job_id: jobId, ref: this.#ref("c") });
    else this.#cancels.add(jobId);
  }

  /** Where a job's file result is downloaded: `${apiBase}api/jobs/{id}/artifact`. */
  artifactUrl(jobId) {
    return artifactUrl(jobId, this.apiBase);
  }

  /** Stop watching a job and forget it (here and in sessionStorage). */
  forget(jobId) {
    if (this.jobs.delete(jobId)) this.emit("forget", jobId);
    this.storage.remove(jobId);
    this.#cancels.delete(jobId);
    this.#streams.get(jobId)?.close();
    this.#streams.delete(jobId);
    if (this.status === "open") this.#send({ op: "unwatch", job_id: jobId });
  }

  // --- the socket -------------------------------------------------------------------
  #open() {
    this.#setStatus(this.backoff.attempt === 0 ? "connecting" : "reconnecting");
    let socket;
    try {
      socket = new this.WebSocketImpl(this.url);
    } catch (error) {
      console.warn("taskgate: cannot open the socket", error);
      this.#scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => this.#onOpen(socket);
    socket.onmessage = (message) => this.#onMessage(socket, message);
    socket.onclose = () => this.#onClose(socket);
    socket.onerror = () => {}; // a close always follows
  }

  #onOpen(socket) {
    if (socket !== this.socket) return;
    socket.opened = true;
    this.#failedOpens = 0;
    this.backoff.reset();
    this.#lastFrameAt = Date.now();
    this.#setStatus("open");
    this.#pingTimer = setInterval(() => this.#ping(), this.pingInterval);
    for (const handle of this.jobs.values()) {
      if (!handle.terminal && !handle.gone) this.#watch(handle);
    }
    for (const jobId of this.#cancels) this.cancel(jobId);
    this.#cancels.clear();
    for (const waiter of this.#openWaiters.splice(0)) waiter.resolve();
  }

  #onClose(socket) {
    if (socket !== this.socket) return;
    if (!socket.opened) this.#failedOpens += 1;
    this.#drop();
    if (this.#stopped) return;
    if (this.http && this.#failedOpens >= this.sseAfterFailures) this.#useHttp();
    else this.#scheduleRetry();
  }

  // --- the fallback: HTTP API + Server-Sent Events ------------------------------------
  #useHttp() {
    console.warn("taskgate: WebSockets do not open here; using Server-Sent Events");
    clearTimeout(this.#retryTimer);
    this.transport = "sse";
    this.#setStatus("open");
    for (const handle of this.jobs.values()) {
      if (!handle.terminal && !handle.gone) this.#watch(handle);
    }
    for (const jobId of this.#cancels) this.cancel(jobId);
    this.#cancels.clear();
    for (const waiter of this.#openWaiters.splice(0)) waiter.resolve();
  }

  async #submitOverHttp(job, params) {
    let accepted;
    try {
      accepted = await this.http.submit(job, params);
    } catch (error) {
      throw new TaskgateError(error.code ?? "unavailable", error.message, error.details ?? null);
    }
    const handle = new JobHandle(this, accepted.job_id, {
      job: accepted.job ?? job,
      startedAt: Date.parse(accepted.ts) || Date.now(),
    });
    this.jobs.set(accepted.job_id, handle);
    this.storage.add(accepted.job_id, handle.job, handle.startedAt);
    this.emit("job", handle);
    handle.apply({ event: "accepted", ...accepted });
    this.#watch(handle);
    return handle;
  }

  #streamFrame(handle, frame) {
    this.emit("message", frame);
    handle.apply(frame);
    if (handle.terminal) {
      this.#streams.get(handle.jobId)?.close();
      this.#streams.delete(handle.jobId);
    }
  }

  /** Forget the current socket (closing it if still open) and fail what waited on it. */
  #drop(code = 4000) {
    clearInterval(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close(code);
      } catch {
        // already closed
      }
    }
    for (const [ref, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(
        new TaskgateError("disconnected", "the connection dropped before the server answered"),
      );
      this.#pending.delete(ref);
    }
  }

  #scheduleRetry() {
    clearTimeout(this.#retryTimer);
    const retryIn = this.backoff.next();
    this.#setStatus("reconnecting", retryIn);
    this.#retryTimer = setTimeout(() => this.#open(), retryIn);
  }

  #retryNow() {
    if (this.#stopped || this.socket) return;
    clearTimeout(this.#retryTimer);
    this.#open();
  }

  #ping() {
    const sentAt = Date.now();
    this.#send({ op: "ping", ref: this.#ref("p") });
    clearTimeout(this.#pongTimer);
    this.#pongTimer = setTimeout(() => {
      if (this.#lastFrameAt < sentAt) {
        console.warn("taskgate: no answer to ping, reconnecting");
        this.#drop();
        if (!this.#stopped) this.#scheduleRetry();
      }
    }, this.pongTimeout);
  }

  #onMessage(socket, message) {
    if (socket !== this.socket) return;
    this.#lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      console.warn("taskgate: a frame that is not JSON", message.data);
      return;
    }
    this.emit("message", frame);
    const pending = frame.ref ? this.#pending.get(frame.ref) : undefined;
    if (pending) {
      this.#pending.delete(frame.ref);
      clearTimeout(pending.timer);
      if (frame.event === "accepted") {
        const handle = new JobHandle(this, frame.job_id, {
          job: frame.job ?? pending.job,
          startedAt: Date.parse(frame.ts) || Date.now(),
        });
        this.jobs.set(frame.job_id, handle);
        this.storage.add(frame.job_id, handle.job, handle.startedAt);
        this.emit("job", handle);
        handle.apply(frame);
        pending.resolve(handle);
      } else {
        pending.reject(
          new TaskgateError(frame.code ?? "error", frame.message ?? "refused", frame.details),
        );
      }
      return;
    }
    const handle = frame.job_id ? this.jobs.get(frame.job_id) : undefined;
    if (!handle) return;
    if (frame.event === "error") {
      handle.refuse({ code: frame.code, message: frame.message });
      if (handle.gone) this.storage.remove(handle.jobId);
      return;
    }
    handle.apply(frame);
  }

  #watch(handle) {
    if (this.transport === "sse") {
      this.#streams.get(handle.jobId)?.close();
      const stream = this.http.watch(handle.jobId, handle.seq, (frame) =>
        this.#streamFrame(handle, frame),
      );
      this.#streams.set(handle.jobId, stream);
      return;
    }
    const frame = { op: "watch", job_id: handle.jobId, ref: this.#ref("w") };
    if (handle.seq >= 0) frame.after = handle.seq;
    this.#send(frame);
  }

  #send(frame) {
    if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(frame));
  }

  #whenOpen() {
    if (this.status === "open") return Promise.resolve();
    if (this.#stopped) this.connect();
    return new Promise((resolve, reject) => this.#openWaiters.push({ resolve, reject }));
  }

  #ref(kind) {
    this.#refs += 1;
    return `${kind}${this.#refs}`;
  }

  #setStatus(status, retryIn = null) {
    const changed = status !== this.status;
    this.status = status;
    if (changed || retryIn !== null) {
      this.emit("status", { status, retryIn, transport: this.transport });
    }
  }
}
