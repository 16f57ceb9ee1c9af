import assert from "node:assert/strict";
import { test } from "node:test";

import { Emitter } from "../src/emitter.js";
import { endNotice, setupNotifications } from "../src/notify.js";
import { recentJobs } from "../src/user-jobs.js";

test("a user's recent jobs are watched oldest first, expired ones left out", () => {
  const page = {
    items: [
      { job_id: "c", job: "reports.generate", created: "2026-12-02T10:00:02.000000Z", expired: false },
      { job_id: "b", job: "demo.echo", created: "2026-12-02T10:00:01.000000Z", expired: true },
      { job_id: "a", job: "demo.echo", created: "2026-12-02T10:00:00.000000Z", expired: false },
    ],
  };
  const jobs = recentJobs(page);
  assert.deepEqual(jobs.map((item) => item.jobId), ["a", "c"]);
  assert.equal(jobs[1].startedAt, Date.parse("2026-12-02T10:00:02Z"));
  assert.deepEqual(recentJobs(null), []);
});

class FakeNotice {
  static permission = "default";
  static asked = 0;
  static shown = [];
  static async requestPermission() {
    FakeNotice.asked += 1;
    FakeNotice.permission = "granted";
    return "granted";
  }
  constructor(title, options) {
    FakeNotice.shown.push({ title, ...options });
  }
}

function fakeHandle(jobId) {
  const handle = new Emitter();
  Object.assign(handle, { jobId, job: "demo.echo", state: "running", error: null, terminal: false });
  return handle;
}

test("notifications: off by default, asked once, shown only for an end seen while hidden", async () => {
  const client = new Emitter();
  client.jobs = new Map();
  const toggle = new EventTarget();
  toggle.checked = false;
  const ui = { box: { hidden: true }, toggle, note: { hidden: true, textContent: "" } };
  const storage = new Map();
  const doc = { visibilityState: "visible" };
  setupNotifications(client, ui, {
    Notice: FakeNotice,
    storage: { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => storage.set(k, v) },
    doc,
  });
  assert.equal(ui.box.hidden, false);
  assert.equal(toggle.checked, false);
  const handle = fakeHandle("j1");
  client.emit("job", handle);
  const end = () => {
    Object.assign(handle, { state: "success", terminal: true });
    handle.emit("state", "success", "running");
  };
  doc.visibilityState = "hidden";
  end();
  assert.equal(FakeNotice.shown.length, 0); // off by default
  toggle.checked = true;
  toggle.dispatchEvent(new Event("change"));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(FakeNotice.asked, 1);
  assert.equal(storage.get("taskgate.notify"), "on");
  end();
  assert.deepEqual(FakeNotice.shown, [{ title: "demo.echo finished", body: "Job j1", tag: "j1" }]);
  doc.visibilityState = "visible";
  end();
  assert.equal(FakeNotice.shown.length, 1); // visible: the page itself shows it
  toggle.checked = false;
  toggle.dispatchEvent(new Event("change"));
  toggle.checked = true;
  toggle.dispatchEvent(new Event("change"));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(FakeNotice.asked, 1); // never asked twice
  assert.equal(endNotice({ job: "x", jobId: "j", state: "failure", error: { type: "E", message: "m" } }).body, "E: m");
});
