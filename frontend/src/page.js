// The live page at / (or wherever the project mounts taskgate): start jobs, one bar per job,
// a connection indicator. The template tells where the API and the socket are, on <html>:
// data-taskgate-api (the API base, "/" when absent or empty) and data-taskgate-socket (the
// WebSocket path, "/ws/jobs/" when absent or empty) and data-taskgate-user ("1" when the
// visitor is signed in: then their jobs from every device are shown, see user-jobs.js).

import { JobCard } from "./bars.js";
import { TaskgateClient, TaskgateError } from "./client.js";
import { clearFieldErrors, readFields, renderFields, setRichText, showFieldErrors } from "./form.js";
import { setupNotifications } from "./notify.js";
import { apiUrl, pageConfig } from "./urls.js";
import { followUserJobs } from "./user-jobs.js";

const STATUS_LABELS = {
  idle: "Not connected",
  connecting: "Connecting…",
  open: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Disconnected",
};

const $ = (selector) => document.querySelector(selector);

function showConnection({ status, retryIn }) {
  const box = $("#connection");
  box.dataset.status = status;
  let label = STATUS_LABELS[status] ?? status;
  if (status === "reconnecting" && retryIn !== null) {
    label = `Reconnecting in ${Math.ceil(retryIn / 1000)} s…`;
  }
  box.querySelector(".label").textContent = label;
}

async function loadJobTypes(apiBase) {
  const response = await fetch(apiUrl(apiBase, "job-types"), {
    headers: { Accept: "application/json" },
  });
  if (!response.ok) throw new Error(`job types: HTTP ${response.status}`);
  return (await response.json()).job_types;
}

function setupForm(client, jobTypes) {
  const select = $("#job-type");
  const fieldset = $("#job-params");
  const error = $("#form-error");
  const button = $("#start");
  const byName = new Map(jobTypes.map((type) => [type.name, type]));
  select.replaceChildren(
    ...jobTypes.map((type) => {
      const option = document.createElement("option");
      option.value = type.name;
      option.textContent = type.name;
      return option;
    }),
  );
  const preferred = byName.has("reports.generate") ? "reports.generate" : jobTypes[0]?.name;
  if (preferred) select.value = preferred;
  const choose = () => {
    const type = byName.get(select.value);
    setRichText($("#job-description"), type?.description ?? "");
    renderFields(fieldset, type?.params ?? {});
    error.hidden = true;
  };
  select.addEventListener("change", choose);
  choose();
  button.disabled = jobTypes.length === 0;
  $("#start-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    clearFieldErrors(fieldset);
    button.disabled = true;
    try {
      await client.submit(select.value, readFields(fieldset));
    } catch (failure) {
      // Field errors go next to their fields; the form-level error sums everything up
      // (it is the alert a screen reader announces) and is where "params" and unknown
      // fields are shown.
      if (failure instanceof TaskgateError) showFieldErrors(fieldset, failure.details);
      error.hidden = false;
      error.textContent = describeRefusal(failure);
    } finally {
      button.disabled = false;
    }
  });
}

function describeRefusal(failure) {
  if (!(failure instanceof TaskgateError)) return String(failure);
  const details = Array.isArray(failure.details)
    ? failure.details.map((item) => `${item.field}: ${item.message}`).join("; ")
    : "";
  return details ? `${failure.message} (${details})` : failure.message;
}

function main() {
  const { apiBase, socketPath } = pageConfig(document.documentElement);
  const client = new TaskgateClient({ apiBase, socketPath });
  const list = $("#job-list");
  const cards = new Map();
  const updateEmpty = () => {
    $("#no-jobs").hidden = cards.size > 0;
  };
  client.on("status", showConnection);
  client.on("job", (handle) => {
    const card = new JobCard(handle);
    cards.set(handle.jobId, card);
    list.prepend(card.root);
    updateEmpty();
  });
  client.on("forget", (jobId) => {
    cards.get(jobId)?.root.remove();
    cards.delete(jobId);
    updateEmpty();
  });
  setInterval(() => {
    for (const card of cards.values()) if (!card.handle.terminal) card.tick();
  }, 500);
  client.restore();
  setupNotifications(client, {
    box: $("#notify"),
    toggle: $("#notify-toggle"),
    note: $("#notify-note"),
  });
  client.connect();
  if (document.documentElement.dataset.taskgateUser === "1") followUserJobs(client, apiBase);
  // For the console and for tests: the client of this page.
  window.taskgate = client;
  loadJobTypes(apiBase)
    .then((types) => setupForm(client, types))
    .catch((failure) => {
      const error = $("#form-error");
      error.hidden = false;
      error.textContent = `Could not load the job list: ${failure.message}`;
    });
}

main();
