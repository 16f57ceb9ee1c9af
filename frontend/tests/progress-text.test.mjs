import assert from "node:assert/strict";
import { test } from "node:test";

import { formatRate, rateLine, stalledText } from "../src/progress-text.js";
import { applyEvent, initialView } from "../src/sequence.js";

test("a bar's rate line reads as a person would say it", () => {
  assert.equal(rateLine({ eta: 40.2, rate: 3200.4, unit: "rows" }), "about 40 s left · 3,200 rows/s");
  assert.equal(rateLine({ eta: null, rate: 12.34 }), "12.3/s");
  assert.equal(rateLine({ eta: 5, rate: null }), "about 5 s left");
  assert.equal(rateLine(null), "");
  assert.equal(formatRate(2.5, ""), "2.5/s");
});

test("a stalled job says how long it has been silent", () => {
  const since = "2026-12-02T10:00:00.000000Z";
  const at = Date.parse(since);
  assert.equal(stalledText(since, at + 45_400), "no progress for 45 s");
  assert.equal(stalledText(since, at + 5 * 60_000), "no progress for 5 min");
  assert.equal(stalledText(null, at), "");
});

test("stalled is set by its event and by snapshots, and cleared by the next progress", () => {
  let view = initialView("j");
  view = applyEvent(view, { event: "progress", job_id: "j", seq: 2, progress: { current: 5 } });
  const since = "2026-12-02T10:00:00.000000Z";
  view = applyEvent(view, { event: "stalled", job_id: "j", seq: 3, stalled_since: since, progress: { current: 5 } });
  assert.equal(view.state, "running");
  assert.equal(view.stalledSince, since);
  view = applyEvent(view, { event: "progress", job_id: "j", seq: 4, progress: { current: 6 } });
  assert.equal(view.stalledSince, null);
  assert.equal(view.progress.current, 6);
  const snap = applyEvent(initialView("j"), { event: "snapshot", job_id: "j", seq: 3, state: "running", stalled_since: since });
  assert.equal(snap.stalledSince, since);
});
