// A job's progress in words, shared by the page's cards and <taskgate-progress> (pure):
// "about 40 s left · 3,200 rows/s", and "no progress for 45 s" for a stalled job.

const NUMBER = new Intl.NumberFormat("en-US");

/** "about 12 s left", "about 3 min left" (from 90 s on); "" when `seconds` is no number. */
export function formatEta(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "";
  const left = Math.max(0, seconds);
  if (left >= 90) return `about ${Math.round(left / 60)} min left`;
  return `about ${Math.round(left)} s left`;
}

/** "3,200 rows/s", "12.5/s", "0.25/s" (`unit`: what `current` counts); "" without a rate. */
export function formatRate(rate, unit = null) {
  if (typeof rate !== "number" || !Number.isFinite(rate)) return "";
  const value = Math.max(0, rate);
  let text;
  if (value >= 100) text = NUMBER.format(Math.round(value));
  else if (value >= 10) text = String(Math.round(value * 10) / 10);
  else text = String(Math.round(value * 100) / 100);
  return typeof unit === "string" && unit ? `${text} ${unit}/s` : `${text}/s`;
}

/** "about 40 s left · 3,200 rows/s" (either half alone when the other is unknown). */
export function rateLine(progress) {
  const parts = [formatEta(progress?.eta), formatRate(progress?.rate, progress?.unit)];
  return parts.filter(Boolean).join(" · ");
}

/** "no progress for 45 s" / "no progress for 3 min" since `since` (ISO time); "" if none. */
export function stalledText(since, now = Date.now()) {
  const at = Date.parse(since ?? "");
  if (!Number.isFinite(at)) return "";
  const seconds = Math.max(0, (now - at) / 1000);
  if (seconds >= 90) return `no progress for ${Math.round(seconds / 60)} min`;
  return `no progress for ${Math.floor(seconds)} s`;
}
