import { ok as assert } from "node:assert";
import { PointSet } from "./point_set.ts";
import { PointStore } from "./point_store.ts";
import type { Point } from "./point.ts";
import { Status } from "./status.ts";

function point(id: string): Point {
  return { id, value: 1, type: "Double", status: Status.Good, time: 1000, hops: [], cause: null };
}

Deno.test("a point set holds the points added while their store holds them, not the later points of their slots", () => {
  const store = new PointStore("plant1");
  const [a, b, c] = ["a", "b", "c"].map((id) => store.apply(point(`plant1/${id}`), "sim")!);
  const set = new PointSet();
  const size = () => set.size;
  // Added out of slot order, so the set fills its slots up to the first one added.
  assert(set.add(c!) && set.add(a!));
  assert(!set.add(c!), "added again");
  assert(set.has(a!) && set.has(c!) && !set.has(b!) && size() === 2);
  assert(set.delete(c!) && !set.delete(c!) && !set.has(c!) && size() === 1);
  assert(set.add(c!) && size() === 2);
  // A removed point leaves the set; the point that takes its slot is not in it.
  store.remove("plant1/a");
  assert(!set.has(a!), "a removed point");
  const d = store.apply(point("plant1/d"), "sim")!;
  assert(!set.has(d), "the new point in the removed point's slot");
  // The same id applied again is a new point, not in the set either; a removed point is not added.
  set.add(b!);
  store.remove("plant1/b");
  const b2 = store.apply(point("plant1/b"), "sim")!;
  assert(!set.has(b2) && !set.has(b!));
  set.add(b!);
  assert(!set.has(b2));
  set.add(b2);
  assert(set.has(b2));
});
