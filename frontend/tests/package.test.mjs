// The npm package @taskgate/client as `npm pack` makes it: every module the exports import is
// in it, with its type declarations, and nothing of the page or the tests; and it imports.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const FRONTEND = dirname(dirname(fileURLToPath(import.meta.url)));

function hasNpm() {
  try {
    execFileSync("npm", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The relative modules `file` imports or re-exports (static and dynamic), as package paths. */
function importsOf(root, file) {
  const source = readFileSync(join(root, file), "utf8");
  const found = new Set();
  const patterns = [
    /^\s*(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/gms,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of source.matchAll(pattern)) {
      const specifier = match[1];
      assert.ok(specifier.startsWith("./") || specifier.startsWith("../"), `${file} imports ${specifier}: a package needs no dependency`);
      found.add(posix.normalize(posix.join(posix.dirname(file), specifier)));
    }
  }
  return [...found];
}

/** Every file reachable from the entry points by imports. */
function closure(root, entries) {
  const seen = new Set();
  const queue = [...entries];
  while (queue.length) {
    const file = queue.shift();
    if (seen.has(file)) continue;
    seen.add(file);
    if (existsSync(join(root, file))) queue.push(...importsOf(root, file));
  }
  return seen;
}

const strip = (path) => path.replace(/^\.\//, "");

test("npm pack makes a package with the client, the element and their types, and it imports", { skip: !hasNpm() && "npm is missing" }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), "taskgate-pack-"));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const env = {
    ...process.env,
    npm_config_cache: join(work, "cache"),
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
    npm_config_audit: "false",
    npm_config_loglevel: "error",
  };
  const output = execFileSync("npm", ["pack", "--json", "--pack-destination", work], {
    cwd: FRONTEND,
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 120_000,
  });
  const [packed] = JSON.parse(output);
  assert.equal(packed.name, "@taskgate/client");
  assert.equal(packed.version, "0.1.0");
  const listed = new Set(packed.files.map((file) => file.path));

  const target = join(work, "node_modules", "@taskgate", "client");
  mkdirSync(target, { recursive: true });
  execFileSync("tar", ["-xzf", join(work, packed.filename), "-C", target, "--strip-components=1"]);
  const manifest = JSON.parse(readFileSync(join(target, "package.json"), "utf8"));
  assert.equal(manifest.private, undefined);
  assert.equal(manifest.type, "module");
  assert.equal(manifest.license, "MIT");
  assert.deepEqual(Object.keys(manifest.exports).sort(), [".", "./http-transport", "./package.json", "./progress-element"]);

  // Every export's module and types, and every module they import, are in the tarball.
  const entries = [];
  for (const [name, entry] of Object.entries(manifest.exports)) {
    if (name === "./package.json") continue;
    for (const key of ["default", "types"]) {
      assert.ok(entry[key], `${name} has no "${key}"`);
      assert.ok(listed.has(strip(entry[key])), `${entry[key]} is not in the package`);
    }
    entries.push(strip(entry.default));
  }
  assert.equal(manifest.exports["."].default, "./src/client.js");
  assert.equal(manifest.exports["./progress-element"].default, "./src/progress-element.js");
  assert.equal(manifest.exports["./http-transport"].default, "./src/http-transport.js");
  assert.ok(listed.has(strip(manifest.types)));
  const needed = closure(target, entries);
  for (const file of needed) {
    assert.ok(listed.has(file), `${file} is imported but not packed`);
    assert.ok(existsSync(join(target, file)), `${file} is listed but not unpacked`);
  }
  for (const file of ["src/client.d.ts", "src/progress-element.d.ts", "src/http-transport.d.ts", "README.md", "LICENSE"]) {
    assert.ok(listed.has(file), `${file} is not in the package`);
  }
  // The declarations' own imports resolve inside the package too.
  for (const file of closure(target, ["src/client.d.ts", "src/progress-element.d.ts", "src/http-transport.d.ts"])) {
    const declared = file.replace(/\.js$/, ".d.ts");
    assert.ok(listed.has(file) || listed.has(declared), `${file} is declared but not packed`);
  }

  // Only what a user needs: no tests, no page, no template.
  for (const file of listed) {
    assert.ok(!file.startsWith("tests/"), `${file}: tests are not packed`);
    assert.ok(!file.startsWith("templates/"), `${file}: the page's template is not packed`);
  }
  for (const file of ["src/page.js", "src/bars.js", "src/form.js", "src/page.css"]) {
    assert.ok(!listed.has(file), `${file}: the page is not packed`);
  }
  const extra = [...listed].filter(
    (file) => !needed.has(file) && !file.endsWith(".d.ts") && !["README.md", "LICENSE", "package.json"].includes(file),
  );
  assert.deepEqual(extra, [], "files no export needs");

  // The packed "." export imports, from the unpacked files and by the package's name.
  const client = await import(pathToFileURL(join(target, manifest.exports["."].default)).href);
  assert.equal(typeof client.TaskgateClient, "function");
  assert.match(Function.prototype.toString.call(client.TaskgateClient), /^class\b/);
  assert.equal(typeof client.TaskgateError, "function");
  const user = join(work, "user.mjs");
  writeFileSync(
    user,
    [
      'export * as client from "@taskgate/client";',
      'export * as element from "@taskgate/client/progress-element";',
      'export * as http from "@taskgate/client/http-transport";',
      'export { default as manifest } from "@taskgate/client/package.json" with { type: "json" };',
    ].join("\n"),
  );
  const byName = await import(pathToFileURL(user).href);
  assert.match(Function.prototype.toString.call(byName.client.TaskgateClient), /^class\b/);
  assert.equal(typeof byName.element.TaskgateProgress, "function");
  assert.equal(typeof byName.element.define, "function");
  assert.equal(typeof byName.http.HttpTransport, "function");
  assert.equal(byName.manifest.name, "@taskgate/client");
});
