// <taskgate-progress>: what it shows for a job (progressView, pure) and the element's glue,
// driven by a stand-in WebSocket in a stand-in DOM (node has neither). The real browser runs
// it against the real gateway (see frontend/README.md).
import assert from "node:assert/strict";
import { test } from "node:test";

import { FakeRegistry, connect, disconnect, installFakeDom } from "./fake-dom.mjs";
import { socketClass } from "./fake-socket.mjs";

const document = installFakeDom();
globalThis.customElements = new FakeRegistry();
const {
  TaskgateProgress,
  define,
  formatEta,
  formatRate,
  progressView,
  sharedClient,
  shortJson,
} = await import("../src/progress-element.js");
const { TaskgateClient } = await import("../src/client.js");
const { SessionJobs } = await import("../src/session-jobs.js");

const TS = "2026-01-01T00:00:00.000000Z";
const ev = (event, seq, extra = {}) => ({ event, job_id: "job-1", seq, ts: TS, ...extra });
const progress = (percent, extra = {}) => ({ current: 1, total: 4, percent, message: "", ...extra });

function element(attributes) {
  const node = new TaskgateProgress();
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

const text = (node, className) => node.find(className)?.textContent ?? null;

// --- the view model ---------------------------------------------------------------------

test("eta and rate read as a person would say them", () => {
  assert.equal(formatEta(12.4), "about 12 s left");
  assert.equal(formatEta(89), "about 89 s left");
  assert.equal(formatEta(90), "about 2 min left");
  assert.equal(formatEta(600), "about 10 min left");
  assert.equal(formatEta(-3), "about 0 s left");
  assert.equal(formatEta(null), "");
  assert.equal(formatEta(undefined), "");
  assert.equal(formatRate(1234.5), "1,235/s");
  assert.equal(formatRate(3200, "rows"), "3,200 rows/s");
  assert.equal(formatRate(12.34), "12.3/s");
  assert.equal(formatRate(0.256), "0.26/s");
  assert.equal(formatRate(null), "");
  assert.equal(shortJson({ a: 1 }), '{"a":1}');
  assert.equal(shortJson("x".repeat(300)).length, 200);
  assert.equal(shortJson(undefined), "null");
});

test("a running job: bar, percent, message, rate and eta", () => {
  const view = progressView({
    jobId: "job-1",
    state: "running",
    progress: progress(42.25, { message: "rows 420/1000", rate: 20.5, eta: 28 }),
  });
  assert.equal(view.state, "running");
  assert.equal(view.label, "Running");
  assert.equal(view.percent, 42.3);
  assert.equal(view.percentText, "42.3 %");
  assert.equal(view.message, "rows 420/1000");
  assert.equal(view.rate, "20.5/s");
  assert.equal(view.eta, "about 28 s left");
  assert.equal(view.result, null);
  assert.equal(view.error, null);
});

test("an unknown total is an indeterminate bar; an unknown eta shows no eta", () => {
  const view = progressView({ jobId: "j", state: "running", progress: progress(null, { rate: 3, eta: null }) });
  assert.equal(view.percent, null);
  assert.equal(view.percentText, "");
  assert.equal(view.rate, "3/s");
  assert.equal(view.eta, "");
  assert.equal(progressView({ jobId: "j" }).state, "pending");
  assert.equal(progressView({ jobId: "j" }).percent, null);
  assert.equal(progressView({ jobId: "j", state: "queued" }).label, "Queued");
});

test("success: 100 %, the result as short JSON, a download link for a file", () => {
  const plain = progressView({ jobId: "j1", state: "success", progress: progress(80, { eta: 3 }), result: [1, 2] });
  assert.equal(plain.percent, 100);
  assert.equal(plain.label, "Done");
  assert.equal(plain.eta, "");
  assert.deepEqual(plain.result, { json: "[1,2]", artifact: null });

  const file = progressView({
    jobId: "j 1",
    state: "success",
    apiBase: "/taskgate/",
    result: { rows: 10, artifact: { name: "r.csv", bytes: 5, sha256: "ab" } },
  });
  assert.deepEqual(file.result, {
    json: '{"rows":10}',
    artifact: { href: "/taskgate/api/jobs/j%201/artifact", name: "r.csv" },
  });
  const only = progressView({ jobId: "j", state: "success", result: { artifact: { name: "a.zip" } } });
  assert.equal(only.result.json, "");
  assert.equal(only.result.artifact.href, "/api/jobs/j/artifact");
  const odd = progressView({ jobId: "j", state: "success", result: { artifact: "not an object" } });
  assert.equal(odd.result.artifact, null);
});

test("failure, lost, cancelled, and refused watches", () => {
  const failed = progressView({ jobId: "j", state: "failure", error: { type: "DemoFailure", message: "disk on fire" } });
  assert.equal(failed.label, "Failed");
  assert.equal(failed.error, "DemoFailure: disk on fire");
  const lost = progressView({ jobId: "j", state: "failure", error: { type: "lost", message: "x" } });
  assert.equal(lost.error, "lost: The worker running this job died.");
  assert.equal(progressView({ jobId: "j", state: "cancelled" }).label, "Cancelled");

  const forbidden = progressView({ jobId: "j", refusal: { code: "forbidden", message: "not yours" } });
  assert.equal(forbidden.state, "gone");
  assert.equal(forbidden.errorCode, "forbidden");
  assert.match(forbidden.notice, /belongs to someone else/);
  const missing = progressView({ jobId: "j", refusal: { code: "not_found", message: "no" } });
  assert.equal(missing.state, "gone");
  assert.match(missing.notice, /No such job/);
  const limited = progressView({ jobId: "j", state: "running", refusal: { code: "rate_limited", message: "slow down" } });
  assert.equal(limited.state, "running");
  assert.equal(limited.notice, "rate_limited: slow down");
  assert.equal(progressView({ jobId: "" }).notice, "No job id given.");
  assert.equal(progressView({ jobId: "j", status: "reconnecting" }).notice, "Reconnecting…");
  assert.equal(progressView({ jobId: "j", state: "success", status: "reconnecting" }).notice, "");
});

// --- the element ------------------------------------------------------------------------

test("the module defines <taskgate-progress> once", () => {
  assert.equal(globalThis.customElements.get("taskgate-progress"), TaskgateProgress);
  assert.equal(define(), false);
  assert.equal(define("taskgate-progress", new FakeRegistry()), true);
  assert.equal(define("taskgate-progress", null), false);
});

test("the element follows its job from the snapshot to the download link, across a reconnect", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const { FakeSocket, sockets } = socketClass();
  const url = "ws://app.test/ws/jobs/";
  const client = sharedClient(url, { apiBase: "/taskgate/", WebSocketImpl: FakeSocket });
  const node = element({ "job-id": "job-1", "api-base": "/taskgate/", "socket-path": url });
  connect(node);
  assert.equal(node.handle.client, client);
  assert.equal(sockets.length, 1);
  assert.equal(node.getAttribute("data-state"), "pending");
  assert.equal(node.find("taskgate-bar").getAttribute("value"), null);
  assert.equal(text(node, "taskgate-notice"), "Connecting…");

  sockets[0].open();
  const watch = sockets[0].sent.find((frame) => frame.op === "watch");
  assert.equal(watch.job_id, "job-1");
  assert.equal("after" in watch, false);
  sockets[0].receive(ev("snapshot", 3, {
    job: "reports.generate",
    state: "running",
    progress: progress(40, { message: "rows 400", rate: 100, eta: 6 }),
    ref: watch.ref,
  }));
  assert.equal(node.getAttribute("data-state"), "running");
  assert.equal(node.getAttribute("data-percent"), "40");
  const bar = node.find("taskgate-bar");
  assert.equal(bar.tagName, "PROGRESS");
  assert.equal(bar.getAttribute("value"), "40");
  assert.equal(bar.getAttribute("max"), "100");
  assert.equal(text(node, "taskgate-percent"), "40 %");
  assert.equal(text(node, "taskgate-state"), "Running");
  assert.equal(text(node, "taskgate-message"), "rows 400");
  assert.equal(text(node, "taskgate-rate"), "100/s");
  assert.equal(text(node, "taskgate-eta"), "about 6 s left");
  assert.equal(node.find("taskgate-notice").hidden, true);

  sockets[0].receive(ev("progress", 4, { progress: progress(null, { message: "counting", eta: null }) }));
  assert.equal(node.getAttribute("data-percent"), null);
  assert.equal(bar.getAttribute("value"), null); // indeterminate
  assert.equal(node.find("taskgate-eta").hidden, true);

  sockets[0].drop();
  assert.equal(text(node, "taskgate-notice"), "Reconnecting…");
  t.mock.timers.tick(600);
  assert.equal(sockets.length, 2);
  sockets[1].open();
  const again = sockets[1].sent.find((frame) => frame.op === "watch");
  assert.deepEqual({ job_id: again.job_id, after: again.after }, { job_id: "job-1", after: 4 });
  sockets[1].receive(ev("snapshot", 4, { state: "running", progress: progress(null), ref: again.ref }));
  sockets[1].receive(ev("progress", 6, { progress: progress(90) }));
  sockets[1].receive(ev("progress", 5, { progress: progress(70) })); // old: dropped
  assert.equal(node.getAttribute("data-percent"), "90");
  sockets[1].receive(ev("success", 7, {
    result: { rows: 1000, artifact: { name: "sales.csv", bytes: 10, sha256: "ab" } },
  }));
  assert.equal(node.getAttribute("data-state"), "success");
  assert.equal(node.getAttribute("data-percent"), "100");
  assert.equal(node.getAttribute("aria-busy"), "false");
  const link = node.find("taskgate-download");
  assert.equal(link.tagName, "A");
  assert.equal(link.getAttribute("href"), "/taskgate/api/jobs/job-1/artifact");
  assert.equal(link.getAttribute("download"), "sales.csv");
  assert.equal(link.textContent, "sales.csv");
  assert.equal(text(node, "taskgate-result"), '{"rows":1000}');
  assert.equal(text(node, "taskgate-state"), "Done");
  assert.equal(node.find("taskgate-line").hidden, true);

  disconnect(node);
  t.mock.timers.tick(1);
  assert.equal(client.status, "closed"); // the last element left: the shared client closes
  assert.equal(sockets[1].sent.at(-1).op, "unwatch");
  const fresh = sharedClient(url, { WebSocketImpl: FakeSocket });
  assert.notEqual(fresh, client);
});

test("elements with the same socket share one client and one socket", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const { FakeSocket, sockets } = socketClass();
  const url = "ws://shared.test/ws/jobs/";
  const client = sharedClient(url, { WebSocketImpl: FakeSocket });
  const first = element({ "job-id": "job-1", "socket-path": url });
  const second = element({ "job-id": "job-2", "socket-path": url });
  const same = element({ "job-id": "job-1", "socket-path": url });
  connect(first);
  connect(second);
  connect(same);
  assert.equal(sockets.length, 1);
  sockets[0].open();
  const watched = sockets[0].sent.filter((frame) => frame.op === "watch").map((frame) => frame.job_id);
  assert.deepEqual(watched, ["job-1", "job-2"]);
  sockets[0].receive(ev("snapshot", 1, { state: "queued" }));
  assert.equal(first.getAttribute("data-state"), "queued");
  assert.equal(same.getAttribute("data-state"), "queued");
  assert.equal(second.getAttribute("data-state"), "pending");

  disconnect(same); // job-1 is still shown by `first`: still watched
  t.mock.timers.tick(1);
  assert.equal(sockets[0].sent.some((frame) => frame.op === "unwatch"), false);
  // Moved in the page: disconnected and connected again at once, nothing is dropped.
  disconnect(first);
  connect(first);
  t.mock.timers.tick(1);
  assert.equal(sockets[0].sent.some((frame) => frame.op === "unwatch"), false);
  assert.equal(first.getAttribute("data-state"), "queued");
  assert.equal(client.status, "open");

  first.setAttribute("job-id", "job-3"); // another job: watched, the old one let go
  t.mock.timers.tick(1);
  const last = sockets[0].sent.slice(-2).map((frame) => [frame.op, frame.job_id]);
  assert.deepEqual(last, [["watch", "job-3"], ["unwatch", "job-1"]]);
  disconnect(first);
  disconnect(second);
  t.mock.timers.tick(1);
  assert.equal(client.status, "closed");
});

test("forbidden and not_found are shown as such; failures show type and message", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const { FakeSocket, sockets } = socketClass();
  const client = new TaskgateClient({ url: "ws://own/", WebSocketImpl: FakeSocket, storage: new SessionJobs(null) });
  const theirs = element({ "job-id": "job-1" });
  theirs.client = client;
  const failing = element({ "job-id": "job-2" });
  failing.client = client;
  connect(theirs);
  connect(failing);
  sockets[0].open();
  const refs = Object.fromEntries(sockets[0].sent.filter((f) => f.op === "watch").map((f) => [f.job_id, f.ref]));
  sockets[0].receive({ event: "error", code: "forbidden", message: "not yours", job_id: "job-1", ref: refs["job-1"] });
  assert.equal(theirs.getAttribute("data-state"), "gone");
  assert.equal(theirs.getAttribute("data-error"), "forbidden");
  assert.match(text(theirs, "taskgate-notice"), /belongs to someone else/);
  assert.equal(theirs.find("taskgate-notice").hidden, false);

  sockets[0].receive({ event: "snapshot", job_id: "job-2", seq: 2, ts: TS, state: "running", progress: progress(50) });
  sockets[0].receive({ event: "failure", job_id: "job-2", seq: 3, ts: TS, error: { type: "DemoFailure", message: "disk on fire" } });
  assert.equal(failing.getAttribute("data-state"), "failure");
  assert.equal(failing.getAttribute("data-percent"), "50");
  assert.equal(text(failing, "taskgate-error"), "DemoFailure: disk on fire");
  assert.equal(failing.find("taskgate-error").hidden, false);
  assert.equal(text(failing, "taskgate-state"), "Failed");
  disconnect(theirs);
  disconnect(failing);
  t.mock.timers.tick(1);
  assert.equal(client.status, "open"); // a client of the page's own is not closed for it
  client.close();
});

test("without a job id the element says so and opens no socket", () => {
  const { FakeSocket, sockets } = socketClass();
  sharedClient("ws://none.test/ws/jobs/", { WebSocketImpl: FakeSocket });
  const node = element({ "socket-path": "ws://none.test/ws/jobs/" });
  connect(node);
  assert.equal(sockets.length, 0);
  assert.equal(text(node, "taskgate-notice"), "No job id given.");
  assert.equal(node.getAttribute("data-state"), "pending");
  assert.equal(node.ownerDocument, document);
});
