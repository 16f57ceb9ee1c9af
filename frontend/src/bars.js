// One card per job: a <progress> bar with percent, message, time left and rate, elapsed
// time, state colour, "no progress for 45 s" while the job is stalled, cancel button, and the
// result (a download link for a file) or the error at the end.
// A composite job's card also lists its parts under the overall bar, each with its own bar.

import { partRows, partsSummary } from "./parts.js";
import { rateLine, stalledText } from "./progress-text.js";
import { DEFAULT_API_BASE, artifactUrl as jobArtifactUrl } from "./urls.js";

const STATE_LABELS = {
  queued: "Queued",
  running: "Running",
  retrying: "Retrying",
  success: "Done",
  failure: "Failed",
  cancelled: "Cancelled",
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function formatElapsed(ms) {
  const total = Math.max(0, ms) / 1000;
  if (total < 60) return `${total.toFixed(1)} s`;
  const seconds = Math.floor(total);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, "0")} s`;
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** `${apiBase}api/jobs/{id}/artifact` (apiBase: where the project mounts taskgate, "/" by default). */
export function artifactUrl(jobId, apiBase = DEFAULT_API_BASE) {
  return jobArtifactUrl(jobId, apiBase);
}

export class JobCard {
  constructor(handle) {
    this.handle = handle;
    const id = handle.jobId;
    this.root = el("li", "job state-pending");
    this.root.dataset.jobId = id;
    const head = el("div", "job-head");
    this.title = el("h3", "job-title", handle.job ?? "job");
    this.title.id = `job-${id}-title`;
    this.badge = el("span", "badge", "Waiting");
    head.append(this.title, this.badge);
    this.bar = el("progress", "bar");
    this.bar.max = 100;
    this.bar.setAttribute("aria-labelledby", this.title.id);
    this.bar.removeAttribute("value"); // indeterminate until the first progress
    const line = el("div", "job-line");
    this.percent = el("span", "percent", "");
    this.message = el("span", "message", "");
    this.message.setAttribute("aria-live", "polite");
    this.elapsed = el("span", "elapsed", "");
    this.rate = el("span", "rate", "");
    this.rate.hidden = true;
    line.append(this.percent, this.message, this.rate, this.elapsed);
    this.stalled = el("p", "stalled", "");
    this.stalled.setAttribute("role", "status");
    this.stalled.hidden = true;
    this.outcome = el("div", "outcome");
    this.outcome.hidden = true;
    const actions = el("div", "actions");
    this.cancelButton = el("button", "cancel", "Cancel");
    this.cancelButton.type = "button";
    this.cancelButton.addEventListener("click", () => {
      this.cancelButton.disabled = true;
      this.cancelButton.textContent = "Cancelling…";
      handle.cancel();
    });
    this.dismissButton = el("button", "dismiss", "Dismiss");
    this.dismissButton.type = "button";
    this.dismissButton.hidden = true;
    this.dismissButton.addEventListener("click", () => handle.forget());
    actions.append(this.cancelButton, this.dismissButton);
    const small = el("small", "job-id", `id ${id}`);
    this.partsBox = el("div", "parts");
    this.partsBox.hidden = true;
    this.partsSummary = el("p", "parts-summary", "");
    this.partsList = el("ol", "part-list");
    this.partsList.setAttribute("aria-label", "Parts");
    this.partsBox.append(this.partsSummary, this.partsList);
    this.partItems = new Map();
    this.root.append(head, this.bar, line, this.stalled, this.partsBox, this.outcome, actions, small);
    handle.on("event", () => this.render());
    handle.on("error", (error) => this.showRefusal(error));
    this.render();
  }

  render() {
    const { handle } = this;
    const state = handle.state;
    this.root.className = `job state-${state ?? "pending"}`;
    this.root.dataset.state = state ?? "";
    this.root.dataset.seq = String(handle.seq);
    this.title.textContent = handle.job ?? "job";
    this.badge.textContent = STATE_LABELS[state] ?? "Waiting";
    const progress = handle.progress;
    let percent = progress ? progress.percent : null;
    if (state === "success") percent = 100;
    if (percent !== null) {
      const rounded = Math.round(percent * 10) / 10;
      this.bar.setAttribute("value", String(rounded));
      this.bar.setAttribute("aria-valuenow", String(rounded));
      this.percent.textContent = `${rounded} %`;
    }
    this.bar.setAttribute("aria-valuetext", `${STATE_LABELS[state] ?? "Waiting"}${percent !== null ? `, ${Math.round(percent)} %` : ""}`);
    if (progress?.message) this.message.textContent = progress.message;
    const rate = handle.terminal || state !== "running" ? "" : rateLine(progress);
    this.rate.textContent = rate;
    this.rate.hidden = !rate;
    this.renderParts(handle.parts);
    this.tick();
    if (handle.terminal) this.showOutcome();
  }

  renderParts(parts) {
    const rows = partRows(parts);
    this.partsBox.hidden = rows.length === 0;
    if (rows.length === 0) return;
    this.partsSummary.textContent = partsSummary(parts);
    for (const row of rows) {
      let item = this.partItems.get(row.key);
      if (!item) {
        item = el("li", "part");
        item.dataset.part = row.name;
        const name = el("span", "part-name", row.name);
        name.id = `part-${row.key}-name`;
        const bar = el("progress", "part-bar");
        bar.max = 100;
        bar.setAttribute("aria-labelledby", name.id);
        item.append(name, bar, el("span", "part-text", ""));
        this.partItems.set(row.key, item);
        this.partsList.append(item);
      }
      item.className = `part state-${row.state}`;
      item.dataset.state = row.state;
      const bar = item.querySelector("progress");
      bar.setAttribute("value", String(row.percent));
      bar.setAttribute("aria-valuetext", `${row.name}: ${row.text}`);
      item.querySelector(".part-text").textContent = row.text;
    }
  }

  tick(now = Date.now()) {
    const end = this.handle.finishedAt ?? now;
    this.elapsed.textContent = formatElapsed(end - this.handle.startedAt);
    const since = this.handle.terminal ? null : this.handle.stalledSince;
    this.stalled.textContent = since ? stalledText(since, now) : "";
    this.stalled.hidden = !since;
    if (since) this.root.dataset.stalled = since;
    else delete this.root.dataset.stalled;
  }

  showOutcome() {
    const { handle } = this;
    this.cancelButton.hidden = true;
    this.dismissButton.hidden = false;
    this.outcome.hidden = false;
    this.outcome.replaceChildren();
    if (handle.state === "success") {
      this.message.textContent = "Finished";
      const apiBase = handle.client?.apiBase ?? DEFAULT_API_BASE;
      this.outcome.append(renderResult(handle.jobId, handle.result, apiBase));
    } else if (handle.state === "failure") {
      const error = handle.error ?? {};
      const text = error.type === "lost" ? "The worker running this job died." : error.message;
      this.message.textContent = "Failed";
      this.outcome.append(el("p", "error", `${error.type ?? "Error"}: ${text ?? ""}`));
    } else {
      this.message.textContent = "Cancelled";
      this.outcome.append(el("p", "cancelled-note", "This job was cancelled."));
    }
  }

  showRefusal(error) {
    this.outcome.hidden = false;
    this.outcome.replaceChildren(el("p", "error", `${error.code}: ${error.message}`));
    if (this.handle.gone) {
      this.root.className = "job state-gone";
      this.cancelButton.hidden = true;
      this.dismissButton.hidden = false;
    } else {
      this.cancelButton.disabled = false;
      this.cancelButton.textContent = "Cancel";
    }
  }
}

/** A result: a download link and a summary when it names a file, else its JSON. */
export function renderResult(jobId, result, apiBase = DEFAULT_API_BASE) {
  const box = el("div", "result");
  const artifact = result && typeof result === "object" ? result.artifact : null;
  if (artifact && typeof artifact.name === "string") {
    const link = el("a", "download", `Download ${artifact.name}`);
    link.href = artifactUrl(jobId, apiBase);
    link.setAttribute("download", artifact.name);
    const size = Number.isFinite(artifact.bytes) ? ` (${formatBytes(artifact.bytes)})` : "";
    box.append(link, document.createTextNode(size));
    const summary = el("dl", "summary");
    for (const [key, value] of Object.entries(result)) {
      if (key === "artifact" || typeof value === "object") continue;
      summary.append(el("dt", "", key), el("dd", `value-${key}`, String(value)));
    }
    box.append(summary);
    return box;
  }
  box.append(el("pre", "json", JSON.stringify(result, null, 2)));
  return box;
}
