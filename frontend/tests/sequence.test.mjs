import assert from "node:assert/strict";
import { test } from "node:test";

import { SeqFilter, applyEvent, initialView, isTerminal } from "../src/sequence.js";

const progress = (seq, percent) => ({
  event: "progress",
  job_id: "j",
  seq,
  ts: "2026-01-01T00:00:00.000000Z",
  progress: { current: percent, total: 100, percent, message: `at ${percent}` },
});

function play(events, view = initialView("j", "reports.generate")) {
  const shown = [];
  for (const event of events) {
    const next = applyEvent(view, event);
    if (next !== null) {
      view = next;
      shown.push(event.seq);
    }
  }
  return { view, shown };
}

test("SeqFilter takes each seq once and never one below the last", () => {
  const filter = new SeqFilter();
  const taken = [0, 1, 1, 3, 2, 3, 5].filter((seq) => filter.accept(seq));
  assert.deepEqual(taken, [0, 1, 3, 5]);
  assert.equal(filter.last, 5);
  assert.equal(filter.accept("6"), false, "only integer seqs");
  assert.equal(new SeqFilter(7).accept(7), false, "starts after a given seq");
});

test("duplicates and stale events are dropped; progress never goes backwards", () => {
  const events = [
    { event: "accepted", job_id: "j", seq: 0, ts: "t", job: "reports.generate" },
    { event: "running", job_id: "j", seq: 1, ts: "t" },
    progress(2, 10),
    progress(3, 40),
    progress(2, 10), // a late duplicate from the fallback poll
    progress(3, 40), // pushed twice
    progress(5, 70), // gaps are allowed
    progress(4, 55), // older than what is shown
  ];
  const { view, shown } = play(events);
  assert.deepEqual(shown, [0, 1, 2, 3, 5]);
  assert.equal(view.progress.percent, 70);
  assert.equal(view.state, "running");
});

test("a snapshot after a reconnect is applied only when it is newer", () => {
  let { view } = play([progress(1, 10), progress(2, 20)]);
  const stale = { event: "snapshot", job_id: "j", seq: 2, ts: "t", state: "running", progress: null };
  assert.equal(applyEvent(view, stale), null, "same seq: nothing new to show");
  const newer = {
    event: "snapshot", job_id: "j", seq: 6, ts: "t", job: "reports.generate", state: "running",
    progress: { current: 60, total: 100, percent: 60, message: "aggregating" },
    result: null, error: null,
  };
  view = applyEvent(view, newer);
  assert.equal(view.seq, 6);
  assert.equal(view.progress.percent, 60);
  assert.equal(applyEvent(view, progress(5, 50)), null, "events the snapshot covers are dropped");
});

test("a fresh view (page reload) takes the first snapshot whatever its seq", () => {
  const snapshot = { event: "snapshot", job_id: "j", seq: 0, ts: "t", job: "demo.echo", state: "queued" };
  const view = applyEvent(initialView("j"), snapshot);
  assert.equal(view.state, "queued");
  assert.equal(view.job, "demo.echo");
});

test("nothing changes a job after its terminal event", () => {
  const { view, shown } = play([
    progress(1, 50),
    { event: "success", job_id: "j", seq: 3, ts: "t", result: { rows: 5 } },
    { event: "success", job_id: "j", seq: 3, ts: "t", result: { rows: 5 } },
    { event: "snapshot", job_id: "j", seq: 3, ts: "t", state: "success", result: { rows: 5 } },
    progress(9, 99),
  ]);
  assert.deepEqual(shown, [1, 3]);
  assert.equal(view.state, "success");
  assert.deepEqual(view.result, { rows: 5 });
  assert.ok(isTerminal(view.state));
});

test("failure and cancelled end the job with their error", () => {
  const failed = play([
    progress(1, 10),
    { event: "failure", job_id: "j", seq: 2, ts: "t", error: { type: "lost", message: "died" } },
  ]).view;
  assert.equal(failed.state, "failure");
  assert.deepEqual(failed.error, { type: "lost", message: "died" });
  const cancelled = play([{ event: "cancelled", job_id: "j", seq: 4, ts: "t" }]).view;
  assert.equal(cancelled.state, "cancelled");
});

test("unknown events and events without an integer seq are ignored", () => {
  const view = initialView("j");
  assert.equal(applyEvent(view, { event: "pong", seq: 1 }), null);
  assert.equal(applyEvent(view, { event: "progress", seq: "1" }), null);
});
