// What a job looks like to the client, and how each server event changes it (pure).
//
// Events of one job carry a `seq` that only grows; the server may send an event twice (push
// and fallback, or a snapshot after a reconnect). `applyEvent` returns null for anything at
// or below the last `seq` applied, so nothing is ever shown twice or goes backwards, and
// nothing changes a job that has ended.

export const TERMINAL_STATES = Object.freeze(["success", "failure", "cancelled"]);
const EVENT_STATES = Object.freeze({
  accepted: "queued",
  queued: "queued",
  running: "running",
  progress: "running",
  stalled: "running", // still running, but silent (see stalledSince)
  retrying: "retrying",
  success: "success",
  failure: "failure",
  cancelled: "cancelled",
});

export function isTerminal(state) {
  return TERMINAL_STATES.includes(state);
}

/** Drops anything at or below the highest `seq` accepted so far. */
export class SeqFilter {
  constructor(last = -1) {
    this.last = last;
  }

  accept(seq) {
    if (!Number.isInteger(seq) || seq <= this.last) return false;
    this.last = seq;
    return true;
  }
}

/** The view of a job nobody has heard anything about yet. */
export function initialView(jobId, job = null) {
  return {
    jobId,
    job,
    state: null,
    seq: -1,
    progress: null,
    result: null,
    error: null,
    ts: null,
    parts: null, // a composite job's parts (see parts.js), from progress events and snapshots
    stalledSince: null, // running but silent: when it last reported progress (ISO time)
  };
}

/**
 * The view after `event`, or null when the event must be dropped (a duplicate, an old
 * one, or anything after the end).
 */
export function applyEvent(view, event) {
  const seq = event.seq;
  if (!Number.isInteger(seq)) return null;
  if (isTerminal(view.state)) return null;
  // The first frame of a watch is always taken: a fresh view has seq -1.
  if (seq <= view.seq) return null;
  const next = { ...view, seq, ts: event.ts ?? view.ts };
  if (event.job) next.job = event.job;
  if (event.event === "snapshot") {
    next.state = event.state;
    next.progress = event.progress ?? view.progress;
    next.result = event.result ?? null;
    next.error = event.error ?? null;
    next.parts = Array.isArray(event.parts) ? event.parts : view.parts;
    next.stalledSince = event.state === "running" ? (event.stalled_since ?? null) : null;
    return next;
  }
  const state = EVENT_STATES[event.event];
  if (state === undefined) return null;
  next.state = state;
  // A stall lasts until the job's next state: its next progress, or its end.
  next.stalledSince = event.event === "stalled" ? (event.stalled_since ?? null) : null;
  if (event.event === "stalled" && event.progress) next.progress = event.progress;
  if (event.event === "progress" && event.progress) next.progress = event.progress;
  if (event.event === "progress" && Array.isArray(event.parts)) next.parts = event.parts;
  if (event.event === "success") next.result = event.result ?? null;
  if (event.event === "failure" || event.event === "retrying") next.error = event.error ?? null;
  return next;
}
