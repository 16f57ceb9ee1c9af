// The jobs of this browser tab, kept in sessionStorage so a reload can re-attach them.
//
// Only what the server cannot tell us is kept: the job ids, the job name and when the tab
// saw each job start (for the elapsed time). Everything else comes back in the snapshot.

export const DEFAULT_KEY = "taskgate.jobs";

export class SessionJobs {
  constructor(storage = globalThis.sessionStorage ?? null, key = DEFAULT_KEY) {
    this.storage = storage;
    this.key = key;
  }

  /** [{jobId, job, startedAt}] in the order they were added. */
  list() {
    if (!this.storage) return [];
    try {
      const parsed = JSON.parse(this.storage.getItem(this.key) ?? "[]");
      return Array.isArray(parsed) ? parsed.filter((item) => typeof item?.jobId === "string") : [];
    } catch {
      return [];
    }
  }

  add(jobId, job = null, startedAt = Date.now()) {
    const items = this.list().filter((item) => item.jobId !== jobId);
    items.push({ jobId, job, startedAt });
    this.#save(items);
  }

  get(jobId) {
    return this.list().find((item) => item.jobId === jobId) ?? null;
  }

  remove(jobId) {
    this.#save(this.list().filter((item) => item.jobId !== jobId));
  }

  #save(items) {
    if (!this.storage) return;
    try {
      this.storage.setItem(this.key, JSON.stringify(items));
    } catch {
      // Storage full or disabled: the page still works, it just cannot re-attach on reload.
    }
  }
}
