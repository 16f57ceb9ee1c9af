// The client's reconnect logic, against a stand-in for the browser's WebSocket (node 20 has
// none). The real socket, server and browser are exercised by tests/test_page.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { TaskgateClient } from "../src/client.js";
import { SessionJobs } from "../src/session-jobs.js";
import { socketClass } from "./fake-socket.mjs";
import { MemoryStorage } from "./memory-storage.mjs";

const ev = (event, seq, extra = {}) => ({ event, job_id: "job-1", seq, ts: "2026-01-01T00:00:00.000000Z", ...extra });

test("after a dropped link the client re-watches with after = last seq and drops repeats", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const { FakeSocket, sockets } = socketClass();
  const storage = new SessionJobs(new MemoryStorage());
  const client = new TaskgateClient({ url: "ws://x/ws/jobs/", WebSocketImpl: FakeSocket, storage });
  const statuses = [];
  client.on("status", ({ status }) => statuses.push(status));
  client.connect();
  sockets[0].open();

  const submitted = client.submit("demo.echo", { task_id: 1 });
  await Promise.resolve();
  const submit = sockets[0].sent.find((frame) => frame.op === "submit");
  assert.deepEqual(submit.params, { task_id: 1 });
  sockets[0].receive(ev("accepted", 0, { job: "demo.echo", ref: submit.ref }));
  const handle = await submitted;
  assert.deepEqual(storage.list().map((item) => item.jobId), ["job-1"]);

  const percents = [];
  handle.on("progress", (progress) => percents.push(progress.percent));
  sockets[0].receive(ev("running", 1));
  sockets[0].receive(ev("progress", 2, { progress: { percent: 25, current: 1, total: 4, message: "" } }));
  sockets[0].drop();
  assert.equal(client.status, "reconnecting");

  t.mock.timers.tick(600); // full jitter from 0.5 s: the first retry comes within 0.5 s
  assert.equal(sockets.length, 2);
  sockets[1].open();
  const watch = sockets[1].sent.find((frame) => frame.op === "watch");
  assert.deepEqual({ job_id: watch.job_id, after: watch.after }, { job_id: "job-1", after: 2 });

  sockets[1].receive(ev("snapshot", 2, { state: "running", progress: { percent: 25 }, ref: watch.ref }));
  sockets[1].receive(ev("progress", 2, { progress: { percent: 25, current: 1, total: 4, message: "" } }));
  sockets[1].receive(ev("progress", 4, { progress: { percent: 75, current: 3, total: 4, message: "" } }));
  sockets[1].receive(ev("success", 5, { result: 1 }));
  sockets[1].receive(ev("success", 5, { result: 1 }));
  assert.deepEqual(percents, [25, 75]);
  assert.equal(handle.state, "success");
  assert.equal(handle.result, 1);
  assert.deepEqual(statuses.slice(0, 4), ["connecting", "open", "reconnecting", "open"]);
  client.close();
});

test("a link that stops answering pings is dropped and reopened", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const { FakeSocket, sockets } = socketClass();
  const client = new TaskgateClient({
    url: "ws://x/ws/jobs/",
    WebSocketImpl: FakeSocket,
    storage: new SessionJobs(new MemoryStorage()),
    pingInterval: 15_000,
    pongTimeout: 10_000,
  });
  client.connect();
  sockets[0].open();
  t.mock.timers.tick(15_000);
  assert.equal(sockets[0].sent.at(-1).op, "ping");
  t.mock.timers.tick(10_000); // no pong: the link is dead (noticed 25 s after the last frame)
  assert.equal(client.status, "reconnecting");
  assert.equal(sockets[0].readyState, 3);
  t.mock.timers.tick(1_000);
  assert.equal(sockets.length, 2);
  client.close();
});

test("restore() re-attaches the jobs kept in sessionStorage and watches them from scratch", () => {
  const { FakeSocket, sockets } = socketClass();
  const memory = new MemoryStorage();
  new SessionJobs(memory).add("job-1", "reports.generate", 1000);
  const client = new TaskgateClient({ url: "ws://x/", WebSocketImpl: FakeSocket, storage: new SessionJobs(memory) });
  const [handle] = client.restore();
  assert.equal(handle.jobId, "job-1");
  assert.equal(handle.job, "reports.generate");
  assert.equal(handle.startedAt, 1000);
  client.connect();
  sockets[0].open();
  const watch = sockets[0].sent.find((frame) => frame.op === "watch");
  assert.equal(watch.job_id, "job-1");
  assert.equal("after" in watch, false);
  client.close();
});
