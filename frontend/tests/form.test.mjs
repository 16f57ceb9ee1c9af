// The start form's pure parts: code spans in descriptions, and where each field error goes.
// The form itself is driven in Chromium by tests/test_page.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { splitCode, splitErrors } from "../src/form.js";

test("backticks become code runs, never markup", () => {
  assert.deepEqual(splitCode("Runs for `seconds`, returns `task_id`."), [
    { text: "Runs for ", code: false },
    { text: "seconds", code: true },
    { text: ", returns ", code: false },
    { text: "task_id", code: true },
    { text: ".", code: false },
  ]);
  assert.deepEqual(splitCode("`<b>x</b>`"), [{ text: "<b>x</b>", code: true }]);
  assert.deepEqual(splitCode("no code"), [{ text: "no code", code: false }]);
  assert.deepEqual(splitCode("a ` lone one"), [{ text: "a ` lone one", code: false }]);
  assert.deepEqual(splitCode("empty `` pair"), [{ text: "empty `` pair", code: false }]);
  assert.deepEqual(splitCode(""), []);
  assert.deepEqual(splitCode(null), []);
});

test("field errors go to their fields, the rest to the form", () => {
  const { fields, general } = splitErrors(
    [
      { field: "rows", message: "Input should be greater than or equal to 1" },
      { field: "regions.0", message: "Input should be a valid string" },
      { field: "params", message: "Extra inputs are not permitted" },
      { field: "nope", message: "unknown" },
      { message: "no field at all" },
      { field: "rows", message: "second" },
    ],
    ["rows", "regions", "seed"],
  );
  assert.deepEqual(Object.fromEntries(fields), {
    rows: ["Input should be greater than or equal to 1", "second"],
    regions: ["Input should be a valid string"],
  });
  assert.deepEqual(general.map((item) => item.field ?? null), ["params", "nope", null]);
  assert.deepEqual(splitErrors(null, ["rows"]), { fields: new Map(), general: [] });
});
