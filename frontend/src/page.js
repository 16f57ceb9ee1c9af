// The live page at /: start jobs, one bar per job, a connection indicator.

import { JobCard } from "./bars.js";
import { TaskgateClient, TaskgateError } from "./client.js";
import { readFields, renderFields } from "./form.js";

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

async function loadJobTypes() {
  const response = await fetch("/api/job-types", { headers: { Accept: "application/json" } });
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
    $("#job-description").textContent = type?.description ?? "";
    renderFields(fieldset, type?.params ?? {});
    error.hidden = true;
  };
  select.addEventListener("change", choose);
  choose();
  button.disabled = jobTypes.length === 0;
  $("#start-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    button.disabled = true;
    try {
      await client.submit(select.value, readFields(fieldset));
    } catch (failure) {
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
  const client = new TaskgateClient();
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
  client.connect();
  // For the console and for tests: the client of this page.
  window.taskgate = client;
  loadJobTypes()
    .then((types) => setupForm(client, types))
    .catch((failure) => {
      const error = $("#form-error");
      error.hidden = false;
      error.textContent = `Could not load the job list: ${failure.message}`;
    });
}

main();
