// Where taskgate is mounted: the API base and the socket path, in every URL the client, the
// HTTP transport, the page and the artifact links build.
import assert from "node:assert/strict";
import { test } from "node:test";

import { artifactUrl as cardArtifactUrl } from "../src/bars.js";
import { TaskgateClient, defaultUrl } from "../src/client.js";
import { HttpTransport } from "../src/http-transport.js";
import { SessionJobs } from "../src/session-jobs.js";
import { apiUrl, artifactUrl, jobUrl, normalizeBase, pageConfig, socketUrl } from "../src/urls.js";
import { socketClass } from "./fake-socket.mjs";
import { MemoryStorage } from "./memory-storage.mjs";

const PAGE = { protocol: "http:", host: "app.test:8000" };
const SECURE = { protocol: "https:", host: "app.test" };

test("an API base always ends in a slash, and an empty one is the root", () => {
  assert.equal(normalizeBase("/taskgate/"), "/taskgate/");
  assert.equal(normalizeBase("/taskgate"), "/taskgate/");
  assert.equal(normalizeBase("taskgate/"), "/taskgate/");
  assert.equal(normalizeBase(""), "/");
  assert.equal(normalizeBase("   "), "/");
  assert.equal(normalizeBase(undefined), "/");
  assert.equal(normalizeBase(null), "/");
  assert.equal(normalizeBase("/"), "/");
  assert.equal(normalizeBase("https://jobs.test/tg"), "https://jobs.test/tg/");
});

test("every endpoint hangs off the API base", () => {
  assert.equal(apiUrl("/", "jobs"), "/api/jobs");
  assert.equal(apiUrl("/taskgate/", "jobs"), "/taskgate/api/jobs");
  assert.equal(apiUrl("/taskgate/", "job-types"), "/taskgate/api/job-types");
  assert.equal(jobUrl("/taskgate/", "a b", "events"), "/taskgate/api/jobs/a%20b/events");
  assert.equal(jobUrl("/taskgate/", "j1", "cancel"), "/taskgate/api/jobs/j1/cancel");
  assert.equal(jobUrl("/", "j1"), "/api/jobs/j1");
  assert.equal(artifactUrl("j1"), "/api/jobs/j1/artifact");
  assert.equal(artifactUrl("j1", "/taskgate/"), "/taskgate/api/jobs/j1/artifact");
  assert.equal(cardArtifactUrl("j1"), "/api/jobs/j1/artifact");
  assert.equal(cardArtifactUrl("j1", "/taskgate/"), "/taskgate/api/jobs/j1/artifact");
});

test("the socket URL is the socket path on this page's host, wss: on https:", () => {
  assert.equal(socketUrl(undefined, PAGE), "ws://app.test:8000/ws/jobs/");
  assert.equal(socketUrl("/ws/jobs/", SECURE), "wss://app.test/ws/jobs/");
  assert.equal(socketUrl("/taskgate/ws/jobs/", PAGE), "ws://app.test:8000/taskgate/ws/jobs/");
  assert.equal(socketUrl("", PAGE), "ws://app.test:8000/ws/jobs/");
  assert.equal(socketUrl("ws/jobs/", PAGE), "ws://app.test:8000/ws/jobs/");
  assert.equal(socketUrl("wss://other.test/ws/", PAGE), "wss://other.test/ws/");
  assert.equal(socketUrl("https://other.test/ws/", PAGE), "wss://other.test/ws/");
  assert.equal(defaultUrl(PAGE), "ws://app.test:8000/ws/jobs/");
  assert.equal(defaultUrl(SECURE, "/tg/ws/"), "wss://app.test/tg/ws/");
});

test("the page reads both from <html>, with the defaults for absent or empty attributes", () => {
  const root = (attributes) => ({ getAttribute: (name) => attributes[name] ?? null });
  assert.deepEqual(pageConfig(root({})), { apiBase: "/", socketPath: "/ws/jobs/" });
  assert.deepEqual(pageConfig(root({ "data-taskgate-api": "", "data-taskgate-socket": "" })), {
    apiBase: "/",
    socketPath: "/ws/jobs/",
  });
  assert.deepEqual(
    pageConfig(root({ "data-taskgate-api": "/taskgate/", "data-taskgate-socket": "/ws/tg/" })),
    { apiBase: "/taskgate/", socketPath: "/ws/tg/" },
  );
  assert.deepEqual(pageConfig(null), { apiBase: "/", socketPath: "/ws/jobs/" });
});

test("the client builds its socket URL from socketPath and keeps its API base", (t) => {
  t.after(() => delete globalThis.location);
  globalThis.location = SECURE;
  const { FakeSocket, sockets } = socketClass();
  const storage = new SessionJobs(new MemoryStorage());
  const client = new TaskgateClient({
    socketPath: "/tg/ws/jobs/",
    apiBase: "/taskgate",
    WebSocketImpl: FakeSocket,
    storage,
  });
  assert.equal(client.url, "wss://app.test/tg/ws/jobs/");
  assert.equal(client.apiBase, "/taskgate/");
  assert.equal(client.artifactUrl("job-1"), "/taskgate/api/jobs/job-1/artifact");
  client.connect();
  assert.equal(sockets[0].url, "wss://app.test/tg/ws/jobs/");
  client.connect(); // already connected: no second socket
  assert.equal(sockets.length, 1);
  client.close();

  const plain = new TaskgateClient({ WebSocketImpl: FakeSocket, storage });
  assert.equal(plain.url, "wss://app.test/ws/jobs/");
  assert.equal(plain.apiBase, "/");
  const explicit = new TaskgateClient({ url: "ws://x/", socketPath: "/ignored/", WebSocketImpl: FakeSocket, storage });
  assert.equal(explicit.url, "ws://x/");
});

test("a job handle knows its download URL once its result names a file", () => {
  const client = new TaskgateClient({
    url: "ws://x/",
    apiBase: "/taskgate/",
    WebSocketImpl: socketClass().FakeSocket,
    storage: new SessionJobs(null),
  });
  const handle = client.watch("job-1");
  assert.equal(handle.artifactUrl, null);
  handle.apply({ event: "success", job_id: "job-1", seq: 3, result: { artifact: { name: "r.csv" } } });
  assert.equal(handle.artifactUrl, "/taskgate/api/jobs/job-1/artifact");
});

function recordingFetch() {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ url, body: JSON.parse(init.body) });
    return { ok: true, status: 202, json: async () => ({ event: "accepted", job_id: "j1", seq: 0 }) };
  };
  return { calls, fetchImpl };
}

test("the HTTP transport puts every request under the API base", async () => {
  const { calls, fetchImpl } = recordingFetch();
  const sources = [];
  class FakeEventSource {
    constructor(url) {
      sources.push(url);
    }
    close() {}
  }
  const http = new HttpTransport({
    base: "https://app.test",
    apiBase: "/taskgate/",
    fetchImpl,
    EventSourceImpl: FakeEventSource,
    cookies: () => "",
  });
  await http.submit("demo.echo", { task_id: 1 });
  await http.cancel("j/1");
  http.watch("j1", 4, () => {});
  http.watch("j1", -1, () => {});
  assert.deepEqual(
    calls.map((call) => call.url),
    ["https://app.test/taskgate/api/jobs", "https://app.test/taskgate/api/jobs/j%2F1/cancel"],
  );
  assert.deepEqual(sources, [
    "https://app.test/taskgate/api/jobs/j1/events?after=4",
    "https://app.test/taskgate/api/jobs/j1/events",
  ]);

  const { calls: other, fetchImpl: otherFetch } = recordingFetch();
  const absolute = new HttpTransport({
    base: "https://app.test",
    apiBase: "https://jobs.test/tg/",
    fetchImpl: otherFetch,
    EventSourceImpl: FakeEventSource,
    cookies: () => "",
  });
  await absolute.submit("demo.echo", {});
  assert.equal(other[0].url, "https://jobs.test/tg/api/jobs");
  const root = new HttpTransport({ base: "http://x", fetchImpl: otherFetch, cookies: () => "" });
  await root.submit("demo.echo", {});
  assert.equal(other[1].url, "http://x/api/jobs");
});

test("the client's own SSE fallback uses its API base", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
  const names = ["location", "EventSource", "fetch"];
  const saved = names.map((name) => Object.getOwnPropertyDescriptor(globalThis, name));
  t.after(() => {
    names.forEach((name, index) => {
      delete globalThis[name];
      if (saved[index]) Object.defineProperty(globalThis, name, saved[index]);
    });
  });
  const { calls, fetchImpl } = recordingFetch();
  const sources = [];
  globalThis.location = PAGE;
  globalThis.fetch = fetchImpl;
  globalThis.EventSource = class {
    constructor(url) {
      sources.push(url);
    }
    close() {}
  };
  const { FakeSocket, sockets } = socketClass();
  const client = new TaskgateClient({
    apiBase: "/taskgate/",
    WebSocketImpl: FakeSocket,
    storage: new SessionJobs(null),
    sseAfterFailures: 1,
  });
  client.connect();
  sockets[0].drop();
  assert.equal(client.transport, "sse");
  await client.submit("demo.echo", { task_id: 1 });
  assert.equal(calls[0].url, "http://app.test:8000/taskgate/api/jobs");
  assert.equal(sources[0], "http://app.test:8000/taskgate/api/jobs/j1/events?after=0");
  client.close();
});
