// A signed-in user's jobs on every device: the page asks the API for the user's recent jobs
// (GET api/jobs, newest first) and watches each one that has not expired, so a job started
// in another browser or tab shows up here too, with the same reconnect and resume. Asked on
// load and whenever the tab becomes visible again (no polling). Anonymous pages keep the
// per-tab list (sessionStorage) alone: their owner is a session, not a person.

import { apiUrl } from "./urls.js";

export const RECENT_LIMIT = 20;

/** The user's recent jobs, oldest first: [{jobId, job, startedAt}] (expired ones left out). */
export function recentJobs(page) {
  const items = Array.isArray(page?.items) ? page.items : [];
  return items
    .filter((item) => typeof item?.job_id === "string" && !item.expired)
    .map((item) => ({
      jobId: item.job_id,
      job: typeof item.job === "string" ? item.job : null,
      startedAt: Number.isFinite(Date.parse(item.created)) ? Date.parse(item.created) : Date.now(),
    }))
    .reverse();
}

/** Watch the user's recent jobs on `client` now and each time the tab is shown again. */
export function followUserJobs(client, apiBase, { fetchImpl = globalThis.fetch, doc = globalThis.document } = {}) {
  const load = async () => {
    try {
      const response = await fetchImpl(`${apiUrl(apiBase, "jobs")}?limit=${RECENT_LIMIT}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) return;
      for (const item of recentJobs(await response.json())) client.watch(item.jobId, item);
    } catch {
      // Offline or the server is restarting: the next visit (or reload) tries again.
    }
  };
  doc?.addEventListener?.("visibilitychange", () => {
    if (doc.visibilityState === "visible") load();
  });
  return load();
}
