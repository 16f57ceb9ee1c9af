// One job as the client sees it: its view, and events for the page to render.

import { Emitter } from "./emitter.js";
import { applyEvent, initialView, isTerminal } from "./sequence.js";

/**
 * Events (each listener also gets the server event that caused it, where there is one):
 *   "event"      (event)              every event that changed the view, in seq order
 *   "state"      (state, previous)    queued / running / retrying / success / failure / cancelled
 *   "progress"   ({current, total, percent, message, rate, eta})  percent / eta may be null
 *   "parts"      (parts)              a composite job's parts changed (see parts.js)
 *   "stalled"    (since | null)       the job went silent (since: its last progress's time),
 *                                     or reported again (null)
 *   "success"    (result)
 *   "failure"    ({type, message})
 *   "cancelled"  ()
 *   "error"      ({code, message})    the server refused a request about this job
 */
export class JobHandle extends Emitter {
  constructor(client, jobId, { job = null, startedAt = Date.now() } = {}) {
    super();
    this.client = client;
    this.jobId = jobId;
    this.view = initialView(jobId, job);
    this.startedAt = startedAt;
    this.finishedAt = null;
    this.gone = false; // the server no longer knows this job, or it is not ours
  }

  get job() {
    return this.view.job;
  }
  get state() {
    return this.view.state;
  }
  get seq() {
    return this.view.seq;
  }
  get progress() {
    return this.view.progress;
  }
  get result() {
    return this.view.result;
  }
  get error() {
    return this.view.error;
  }
  /** Running but silent: the ISO time of its last progress (null while it is not stalled). */
  get stalledSince() {
    return this.view.stalledSince ?? null;
  }
  /** A composite job's parts (`null` for a single job). */
  get parts() {
    return this.view.parts;
  }
  get terminal() {
    return isTerminal(this.view.state);
  }
  /** Where the job's file result is downloaded, or null while its result names no file. */
  get artifactUrl() {
    const artifact = this.view.result?.artifact;
    if (!artifact || typeof artifact !== "object" || typeof artifact.name !== "string") return null;
    return this.client.artifactUrl?.(this.jobId) ?? null;
  }

  /** Ask the server to cancel the job (watchers then get "cancelled"). */
  cancel() {
    this.client.cancel(this.jobId);
  }

  /** Stop watching and forget the job (also in sessionStorage). */
  forget() {
    this.client.forget(this.jobId);
  }

  /** Apply a server event; returns whether it changed anything. */
  apply(event) {
    const previous = this.view;
    const next = applyEvent(previous, event);
    if (next === null) return false;
    this.view = next;
    if (isTerminal(next.state) && this.finishedAt === null) {
      const ended = Date.parse(next.ts ?? "");
      this.finishedAt = Number.isFinite(ended) ? Math.max(ended, this.startedAt) : Date.now();
    }
    this.emit("event", event);
    if (next.state !== previous.state) this.emit("state", next.state, previous.state, event);
    if (next.progress && next.progress !== previous.progress) {
      this.emit("progress", next.progress, event);
    }
    if (next.parts && next.parts !== previous.parts) this.emit("parts", next.parts, event);
    if ((next.stalledSince ?? null) !== (previous.stalledSince ?? null)) {
      this.emit("stalled", next.stalledSince ?? null, event);
    }
    if (next.state !== previous.state) {
      if (next.state === "success") this.emit("success", next.result, event);
      if (next.state === "failure") this.emit("failure", next.error, event);
      if (next.state === "cancelled") this.emit("cancelled", event);
    }
    return true;
  }

  refuse(error) {
    if (error.code === "not_found" || error.code === "forbidden") this.gone = true;
    this.emit("error", error);
  }
}
