// The hand-written .d.ts files against the real modules: every value they declare is
// exported, every export is declared, and each declared class's methods exist (and the
// other way round), so the declarations cannot drift from the JS unnoticed.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const MODULES = ["client", "http-transport", "progress-element"];

function declared(name) {
  const text = readFileSync(new URL(`../src/${name}.d.ts`, import.meta.url), "utf8");
  const values = new Set();
  for (const match of text.matchAll(/^export declare (?:class|function|const) (\w+)/gm)) values.add(match[1]);
  for (const match of text.matchAll(/^export \{([^}]+)\} from/gm)) {
    for (const item of match[1].split(",")) values.add(item.trim().split(/\s+as\s+/).at(-1));
  }
  const classes = new Map();
  for (const match of text.matchAll(/^export declare class (\w+)[^{]*\{\n([\s\S]*?)^\}/gm)) {
    const members = new Set();
    for (const member of match[2].matchAll(/^ {2}(?:static )?(\w+)(?:<[^>]*>)?\(/gm)) members.add(member[1]);
    members.delete("constructor");
    classes.set(match[1], members);
  }
  return { values, classes };
}

function methodsOf(cls) {
  const names = new Set();
  const builtIn = (proto) => Function.prototype.toString.call(proto.constructor).includes("[native code]");
  for (let proto = cls.prototype; proto && !builtIn(proto); proto = Object.getPrototypeOf(proto)) {
    for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(proto))) {
      if (name !== "constructor" && typeof descriptor.value === "function") names.add(name);
    }
  }
  return names;
}

for (const name of MODULES) {
  test(`${name}.d.ts declares exactly what ${name}.js exports`, async () => {
    const module = await import(`../src/${name}.js`);
    const { values, classes } = declared(name);
    const exported = new Set(Object.keys(module));
    assert.deepEqual([...values].filter((value) => !exported.has(value)), [], "declared but not exported");
    assert.deepEqual([...exported].filter((value) => !values.has(value)), [], "exported but not declared");
    for (const [className, members] of classes) {
      const cls = module[className];
      if (typeof cls !== "function") continue; // declared in another module (re-exported)
      const real = methodsOf(cls);
      // The emitter's on/off/emit come from its declared base class.
      const inherited = new Set(["on", "off", "emit"]);
      assert.deepEqual([...members].filter((m) => !real.has(m) && !(m in cls)), [], `${className}: declared methods missing`);
      assert.deepEqual(
        [...real].filter((m) => !members.has(m) && !inherited.has(m)),
        [],
        `${className}: methods not declared`,
      );
    }
  });
}
