/** Definitions shared by type and path, and bounded against a peer that never repeats a path. */
import {
  deepStrictEqual as assertEquals,
  notStrictEqual as assertNotStrictEquals,
  ok as assert,
  strictEqual as assertStrictEquals,
} from "node:assert";
import { Definitions, maxPaths } from "./definitions.ts";

Deno.test("a type and path get one definition, whichever array the path comes in", () => {
  const d = new Definitions();
  const a = d.of("Double", ["plant1", "dmz"]);
  assertEquals(a, { type: "Double", hops: ["plant1", "dmz"] });
  assertStrictEquals(d.of("Double", ["plant1", "dmz"]), a);
  const hops = ["plant1", "dmz"];
  assertStrictEquals(d.of("Double", hops), a);
  assertStrictEquals(d.of("Double", hops), a);
  // Another type of the same path shares the path's array; another path is another definition.
  const b = d.of("Int32[]", hops);
  assertEquals(b.type, "Int32[]");
  assertStrictEquals(b.hops, a.hops);
  assertStrictEquals(d.of("Int32[]", ["plant1", "dmz"]), b);
  const c = d.of("Double", ["plant2", "dmz"]);
  assertNotStrictEquals(c, a);
  assertEquals(c.hops, ["plant2", "dmz"]);
  assertStrictEquals(d.of("Double", hops), a);
  assertEquals(d.paths, 2);
});

Deno.test("paths that only differ where they are joined are distinct", () => {
  const d = new Definitions();
  const a = d.of("Double", ["a", "bc"]);
  const b = d.of("Double", ["ab", "c"]);
  assertNotStrictEquals(a, b);
  assertEquals(b.hops, ["ab", "c"]);
});

Deno.test("a peer sending a new path with every definition cannot grow the cache past maxPaths", () => {
  const d = new Definitions();
  const first = d.of("Double", ["plant1", "p0", "dmz"]);
  for (let i = 1; i <= maxPaths + 10; i++) d.of("Double", ["plant1", `p${i}`, "dmz"]);
  assert(d.paths <= maxPaths, `${d.paths} paths held`);
  // What was handed out before the cache started over stays as it was.
  assertEquals(first, { type: "Double", hops: ["plant1", "p0", "dmz"] });
  const again = d.of("Double", ["plant1", "p0", "dmz"]);
  assertEquals(again, first);
});
