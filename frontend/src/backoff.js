// Reconnect delays: exponential backoff with full jitter (pure; no timers here).
//
// The n-th retry waits a uniformly random time in [0, min(cap, base * 2^n)), as in
// "Exponential Backoff And Jitter" (AWS architecture blog): many clients cut off at once
// spread their reconnects instead of arriving together.

export const DEFAULT_BASE_MS = 500;
export const DEFAULT_CAP_MS = 20_000;

/** The upper bound of the delay before retry number `attempt` (0-based). */
export function backoffCeiling(attempt, base = DEFAULT_BASE_MS, cap = DEFAULT_CAP_MS) {
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(`attempt must be a non-negative integer, not ${attempt}`);
  }
  // 2 ** 40 already exceeds any sensible cap; clamp so huge attempts stay finite.
  return Math.min(cap, base * 2 ** Math.min(attempt, 40));
}

/** A full-jitter delay in milliseconds for retry number `attempt`. */
export function backoffDelay(attempt, { base = DEFAULT_BASE_MS, cap = DEFAULT_CAP_MS, random = Math.random } = {}) {
  return Math.floor(random() * backoffCeiling(attempt, base, cap));
}

/** Counts failed attempts; `reset()` after a connection that worked. */
export class Backoff {
  constructor({ base = DEFAULT_BASE_MS, cap = DEFAULT_CAP_MS, random = Math.random } = {}) {
    this.base = base;
    this.cap = cap;
    this.random = random;
    this.attempt = 0;
  }

  /** The delay before the next try; each call counts one more failed attempt. */
  next() {
    const delay = backoffDelay(this.attempt, this);
    this.attempt += 1;
    return delay;
  }

  reset() {
    this.attempt = 0;
  }
}
