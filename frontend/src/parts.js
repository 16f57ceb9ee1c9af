// A composite job's parts as the page shows them (pure: no DOM).
//
// Each part in `progress` events and snapshots has `name`, `job`, `job_id`, `state`,
// `progress` (its own last report) and `done` (the highest fraction of it done so far, which
// never goes backwards; the overall bar is the parts' `done` weighted by `weight`).

const PART_LABELS = {
  queued: "waiting",
  running: "running",
  retrying: "retrying",
  success: "done",
  failure: "failed",
  cancelled: "cancelled",
};

/** The part's bar value, 0 to 100, rounded to a tenth. */
export function partPercent(part) {
  if (part?.state === "success") return 100;
  let fraction = Number(part?.done);
  if (!Number.isFinite(fraction)) fraction = Number(part?.progress?.percent) / 100;
  if (!Number.isFinite(fraction)) return 0;
  return Math.round(Math.max(0, Math.min(1, fraction)) * 1000) / 10;
}

/** One row per part: what the page renders under the overall bar. */
export function partRows(parts) {
  if (!Array.isArray(parts)) return [];
  return parts.map((part, index) => {
    const state = typeof part?.state === "string" ? part.state : "queued";
    const percent = partPercent(part);
    const label = PART_LABELS[state] ?? state;
    const message = state === "running" && part?.progress?.message ? part.progress.message : "";
    return {
      key: String(part?.job_id ?? index),
      name: String(part?.name ?? `part ${index + 1}`),
      job: part?.job ?? null,
      state,
      percent,
      text: `${percent} % · ${message || label}`,
    };
  });
}

/** "2 of 4 parts done" (and how many failed or were cancelled). */
export function partsSummary(parts) {
  const rows = partRows(parts);
  const count = (state) => rows.filter((row) => row.state === state).length;
  let text = `${count("success")} of ${rows.length} parts done`;
  if (count("failure")) text += `, ${count("failure")} failed`;
  if (count("cancelled")) text += `, ${count("cancelled")} cancelled`;
  return text;
}
