// The client's fallback to the HTTP API + Server-Sent Events when WebSockets never open,
// against stand-ins for the browser's WebSocket, fetch and EventSource (node 20 has no
// EventSource). The real browser, server and SSE stream are exercised by
// tests/test_page_sse.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { TaskgateClient } from "../src/client.js";
import { HttpTransport, csrfToken } from "../src/http-transport.js";
import { SessionJobs } from "../src/session-jobs.js";
import { MemoryStorage } from "./memory-storage.mjs";

function failingSockets() {
  const sockets = [];
  class NeverOpens {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      sockets.push(this);
    }
    send() {
      throw new Error("not open");
    }
    close() {
      this.readyState = 3;
    }
    fail() {
      this.readyState = 3;
      this.onclose?.({ code: 1006 });
    }
  }
  return { NeverOpens, sockets };
}

function fakeHttp() {
  const posts = [];
  const sources = [];
  class FakeEventSource {
    constructor(url) {
      this.url = url;
      this.closed = false;
      sources.push(this);
    }
    emit(frame) {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }
    close() {
      this.closed = true;
    }
  }
  const fetchImpl = async (url, init) => {
    posts.push({ url, init, body: JSON.parse(init.body) });
    if (url.endsWith("/api/jobs")) {
      return {
        ok: true,
        status: 202,
        json: async () => ({ event: "accepted", job_id: "job-9", seq: 0, ts: "2026-01-01T00:00:00.000000Z", job: "demo.echo" }),
      };
    }
    return { ok: false, status: 403, json: async () => ({ code: "forbidden", message: "not yours" }) };
  };
  const http = new HttpTransport({
    base: "http://x",
    fetchImpl,
    EventSourceImpl: FakeEventSource,
    cookies: () => "sessionid=abc; csrftoken=tok%3D1",
  });
  return { http, posts, sources };
}

const ev = (event, seq, extra = {}) => ({ event, job_id: "job-9", seq, ts: "2026-01-01T00:00:00.000000Z", ...extra });

test("csrfToken reads Django's cookie", () => {
  assert.equal(csrfToken("a=1; csrftoken=x%2By; b=2"), "x+y");
  assert.equal(csrfToken("a=1"), "");
});

test("after three sockets that never open the client uses the HTTP API and SSE", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const { NeverOpens, sockets } = failingSockets();
  const { http, posts, sources } = fakeHttp();
  const client = new TaskgateClient({
    url: "ws://x/ws/jobs/",
    WebSocketImpl: NeverOpens,
    storage: new SessionJobs(new MemoryStorage()),
    http,
  });
  const statuses = [];
  client.on("status", (status) => statuses.push(status));
  client.connect();
  sockets[0].fail();
  t.mock.timers.tick(1_000);
  sockets[1].fail();
  t.mock.timers.tick(2_000);
  sockets[2].fail();
  assert.equal(client.transport, "sse");
  assert.equal(client.status, "open");
  assert.deepEqual(statuses.at(-1), { status: "open", retryIn: null, transport: "sse" });
  t.mock.timers.tick(60_000);
  assert.equal(sockets.length, 3); // no more WebSocket attempts

  const handle = await client.submit("demo.echo", { task_id: 1 });
  assert.equal(posts[0].url, "http://x/api/jobs");
  assert.deepEqual(posts[0].body, { job: "demo.echo", params: { task_id: 1 } });
  assert.equal(posts[0].init.headers["X-CSRFToken"], "tok=1");
  assert.equal(sources[0].url, "http://x/api/jobs/job-9/events?after=0");

  const percents = [];
  handle.on("progress", (progress) => percents.push(progress.percent));
  sources[0].emit(ev("running", 1));
  sources[0].emit(ev("progress", 2, { progress: { percent: 50, current: 1, total: 2, message: "" } }));
  sources[0].emit(ev("progress", 2, { progress: { percent: 50, current: 1, total: 2, message: "" } }));
  sources[0].emit(ev("success", 3, { result: 1 }));
  assert.deepEqual(percents, [50]);
  assert.equal(handle.state, "success");
  assert.equal(sources[0].closed, true); // closed after the end, or EventSource would reopen it
  client.close();
});

test("a refused cancel over HTTP reaches the job handle", async (t) => {
  const { http } = fakeHttp();
  const { NeverOpens, sockets } = failingSockets();
  const client = new TaskgateClient({
    url: "ws://x/",
    WebSocketImpl: NeverOpens,
    storage: new SessionJobs(new MemoryStorage()),
    http,
    sseAfterFailures: 1,
  });
  client.connect();
  sockets[0].fail();
  const handle = client.watch("job-9");
  const errors = [];
  handle.on("error", (error) => errors.push(error.code));
  client.cancel("job-9");
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(errors, ["forbidden"]);
  client.close();
});
