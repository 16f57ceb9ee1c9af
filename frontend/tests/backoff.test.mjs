import assert from "node:assert/strict";
import { test } from "node:test";

import { Backoff, backoffCeiling, backoffDelay } from "../src/backoff.js";

test("the ceiling doubles from 0.5 s and stops at 20 s", () => {
  const ceilings = Array.from({ length: 9 }, (_, attempt) => backoffCeiling(attempt));
  assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000]);
  assert.equal(backoffCeiling(10_000), 20_000);
});

test("the ceiling refuses a negative or fractional attempt", () => {
  assert.throws(() => backoffCeiling(-1), RangeError);
  assert.throws(() => backoffCeiling(1.5), RangeError);
});

test("full jitter: the delay spans the whole range from 0 to the ceiling", () => {
  assert.equal(backoffDelay(3, { random: () => 0 }), 0);
  assert.equal(backoffDelay(3, { random: () => 0.5 }), 2000);
  assert.equal(backoffDelay(3, { random: () => 0.999999 }), 3999);
  assert.equal(backoffDelay(30, { random: () => 0.999999 }), 19999);
});

test("real random delays stay within [0, ceiling) and are not all the same", () => {
  const delays = Array.from({ length: 200 }, () => backoffDelay(4));
  for (const delay of delays) {
    assert.ok(delay >= 0 && delay < 8000, `delay ${delay} out of range`);
    assert.ok(Number.isInteger(delay));
  }
  assert.ok(new Set(delays).size > 50, "jitter spreads the delays");
});

test("Backoff counts attempts and reset starts again from 0.5 s", () => {
  const backoff = new Backoff({ random: () => 0.999999 });
  const delays = [backoff.next(), backoff.next(), backoff.next()];
  assert.deepEqual(delays, [499, 999, 1999]);
  assert.equal(backoff.attempt, 3);
  backoff.reset();
  assert.equal(backoff.next(), 499);
});

test("custom base and cap", () => {
  const backoff = new Backoff({ base: 100, cap: 300, random: () => 0.999999 });
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next(), backoff.next()], [99, 199, 299, 299]);
});
