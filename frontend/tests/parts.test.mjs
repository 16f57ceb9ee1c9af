import assert from "node:assert/strict";
import { test } from "node:test";

import { partPercent, partRows, partsSummary } from "../src/parts.js";
import { applyEvent, initialView } from "../src/sequence.js";

const part = (name, state, done, message = "") => ({
  name,
  job: "reports.generate",
  job_id: `id-${name}`,
  weight: 100,
  state,
  done,
  progress: done === null ? null : { current: done * 100, total: 100, percent: done * 100, message },
});

test("a part's bar follows its high-water mark, and is full once it succeeded", () => {
  assert.equal(partPercent(part("north", "queued", 0)), 0);
  assert.equal(partPercent(part("north", "running", 0.4567)), 45.7);
  assert.equal(partPercent(part("north", "success", 0.9)), 100);
  assert.equal(partPercent({ state: "running", progress: { percent: 30 } }), 30);
  assert.equal(partPercent({ state: "running", done: 7 }), 100); // clamped
  assert.equal(partPercent({}), 0);
});

test("rows name each part, keyed by its job id, with its state and message", () => {
  const rows = partRows([
    part("north", "running", 0.5, "loading: 1 of 2 rows"),
    part("south", "failure", 0.2, "aggregating"),
    { state: "queued" },
  ]);
  assert.deepEqual(
    rows.map((row) => [row.key, row.name, row.state, row.percent, row.text]),
    [
      ["id-north", "north", "running", 50, "50 % · loading: 1 of 2 rows"],
      ["id-south", "south", "failure", 20, "20 % · failed"],
      ["2", "part 3", "queued", 0, "0 % · waiting"],
    ],
  );
  assert.deepEqual(partRows(null), []);
});

test("the summary counts parts done, failed and cancelled", () => {
  const parts = [part("a", "success", 1), part("b", "failure", 0.5), part("c", "cancelled", 0)];
  assert.equal(partsSummary(parts), "1 of 3 parts done, 1 failed, 1 cancelled");
  assert.equal(partsSummary([part("a", "running", 0.1)]), "0 of 1 parts done");
});

test("the view keeps the parts of progress events and snapshots, in seq order", () => {
  let view = initialView("j", "reports.bundle");
  assert.equal(view.parts, null);
  const first = [part("north", "running", 0.1)];
  view = applyEvent(view, { event: "progress", job_id: "j", seq: 1, progress: {}, parts: first });
  assert.equal(view.parts, first);
  // An older event is dropped with its parts.
  const stale = [part("north", "queued", 0)];
  assert.equal(applyEvent(view, { event: "progress", job_id: "j", seq: 1, parts: stale }), null);
  // A progress event without parts (a single job's) keeps what the view had.
  view = applyEvent(view, { event: "progress", job_id: "j", seq: 2, progress: {} });
  assert.equal(view.parts, first);
  const later = [part("north", "success", 1)];
  view = applyEvent(view, { event: "snapshot", job_id: "j", seq: 5, state: "success", parts: later });
  assert.equal(view.parts, later);
  assert.equal(view.state, "success");
});
