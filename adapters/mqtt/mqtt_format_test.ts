import { deepStrictEqual as assertEquals, strictEqual as assertSame } from "node:assert";
import { type Point, pointSlot, PointStore, Status } from "../../core/mod.ts";
import { type OutPoint, outPoint, OutPointPool } from "./mqtt_format.ts";
import { pointToJson } from "./point_json.ts";

function point(id: string, value: number | string, status: number = Status.Good): Point {
  return {
    id,
    value,
    type: typeof value === "string" ? "String" : "Double",
    status,
    time: 1000,
    hops: ["x"],
    cause: null,
  };
}

/** Every field of a copy, its value (kept apart by type) included. */
function state(p: OutPoint) {
  const { id, value, type, status, time, hops, cause, slot } = p;
  return { id, value, type, status, time, hops, cause, slot };
}

Deno.test("the bridge's pooled copies hold each point's state when taken, are used again only once given back, and hold nothing of a point meanwhile", () => {
  const store = new PointStore("plant1");
  const a = store.apply(point("plant1/a", 1.5), "sim")!;
  const b = store.apply(point("plant1/b", "on"), "sim")!;
  const pool = new OutPointPool(() => 0);
  const first = [pool.take(a), pool.take(b)];
  assertEquals(first.map(state), [outPoint(a), outPoint(b)].map(state));
  assertEquals([first[0]!.value, first[1]!.value], [1.5, "on"]);
  assertSame(first[0]!.slot, pointSlot(a));
  assertSame(first[0]!.hops.length, 0);
  // Copies out at once are distinct, and a later change of the point does not reach them.
  store.apply({ ...point("plant1/a", 2.5, Status.BadNoCommunication), time: 2000 }, "sim");
  const third = pool.take(a);
  assertSame(first.includes(third), false);
  assertSame(first[0]!.value, 1.5);
  pool.giveBack(first);
  assertSame(pool.free, 2);
  assertEquals([first[0]!.value, first[1]!.value], [null, null]);
  // Given back, a copy is written over with the state of the point it copies next.
  const again = pool.take(a);
  assertSame(first.includes(again), true);
  assertEquals(state(again), state(outPoint(a)));
  assertEquals([again.value, again.status, again.time], [2.5, Status.BadNoCommunication, 2000]);
  assertSame(pool.free, 1);
});

Deno.test("the bridge's copy pool keeps as many copies as were out at once in the last window, and lets the rest go", () => {
  const store = new PointStore("plant1");
  const a = store.apply(point("plant1/a", 1), "sim")!;
  let now = 0;
  const pool = new OutPointPool(() => now, 1000);
  // A busy moment: 100 copies out at once.
  const busy = Array.from({ length: 100 }, () => pool.take(a));
  pool.giveBack(busy);
  assertSame(pool.free, 100);
  // Quiet since: one copy at a time. The window that saw 100 keeps 100.
  now = 1000;
  pool.giveBack([pool.take(a)]);
  assertSame(pool.free, 100);
  // A whole window with one out at most: one is kept.
  now = 2000;
  pool.giveBack([pool.take(a)]);
  assertSame(pool.free, 1);
});

Deno.test("a pooled copy refilled with a number, a text, a bigint and a Boolean in turn gives back each, as itself and in the buffer's JSON", () => {
  const store = new PointStore("plant1");
  const pool = new OutPointPool(() => 0);
  let copy: OutPoint | undefined;
  for (
    const [value, type] of [
      [2.25, "Double"],
      ["on", "String"],
      [(1n << 60n) + 1n, "Int64"],
      [7, "Int32"],
      [false, "Boolean"],
      [null, "Double"],
    ] as const
  ) {
    const p = store.apply({ ...point("plant1/a", 0), value, type }, "sim")!;
    if (copy) pool.giveBack([copy]);
    copy = pool.take(p);
    assertSame(copy.value, value);
    assertSame(copy.type, type);
    assertEquals(pointToJson(copy), pointToJson(p));
  }
});
