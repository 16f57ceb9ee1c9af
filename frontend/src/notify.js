// "Notify me when a job ends while this tab is hidden": off by default, the browser's
// permission asked once (on the first switch-on, a user gesture; the browser remembers the
// answer and it is never asked again), the choice kept in localStorage.

export const NOTIFY_KEY = "taskgate.notify";

const ENDINGS = Object.freeze({ success: "finished", failure: "failed", cancelled: "was cancelled" });

/** The notification for a job that ended: {title, body}. */
export function endNotice(handle) {
  const title = `${handle.job ?? "A job"} ${ENDINGS[handle.state] ?? "ended"}`;
  let body = `Job ${handle.jobId}`;
  if (handle.state === "failure" && handle.error) {
    body = `${handle.error.type ?? "Error"}: ${handle.error.message ?? ""}`;
  }
  return { title, body };
}

/**
 * Wire the toggle (`toggle`: a checkbox, `note`: where a refusal is explained) to `client`.
 * Returns null where the browser has no Notification API (the toggle's `box` is hidden).
 */
export function setupNotifications(client, { box, toggle, note }, {
  Notice = globalThis.Notification,
  storage = globalThis.localStorage,
  doc = globalThis.document,
} = {}) {
  if (typeof Notice !== "function") {
    if (box) box.hidden = true;
    return null;
  }
  box.hidden = false;
  const read = () => {
    try {
      return storage?.getItem(NOTIFY_KEY) === "on";
    } catch {
      return false;
    }
  };
  const write = (on) => {
    try {
      storage?.setItem(NOTIFY_KEY, on ? "on" : "off");
    } catch {
      // Storage disabled: the choice lasts for this page only.
    }
  };
  const refuse = () => {
    toggle.checked = false;
    note.textContent = "Notifications are blocked for this site in the browser's settings.";
    note.hidden = false;
    write(false);
  };
  toggle.checked = read() && Notice.permission === "granted";
  toggle.addEventListener("change", async () => {
    note.hidden = true;
    if (!toggle.checked) {
      write(false);
      return;
    }
    let permission = Notice.permission;
    if (permission === "default") permission = await Notice.requestPermission();
    if (permission !== "granted") {
      refuse();
      return;
    }
    write(true);
  });
  const watched = (handle) => {
    handle.on("state", (state, previous) => {
      // Only an end seen happening: a job already over when this page first heard of it
      // (previous null) is nothing new.
      if (previous === null || !handle.terminal) return;
      if (!toggle.checked || Notice.permission !== "granted" || doc?.visibilityState !== "hidden") return;
      const { title, body } = endNotice(handle);
      try {
        const notice = new Notice(title, { body, tag: handle.jobId });
        notice.onclick = () => globalThis.focus?.();
      } catch {
        // Some browsers allow notifications only from a service worker: nothing to show.
      }
    });
  };
  for (const handle of client.jobs.values()) watched(handle);
  client.on("job", watched);
  return { toggle };
}
