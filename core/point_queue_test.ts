import { deepStrictEqual as assertEquals, strictEqual as assertSame } from "node:assert";
import fc from "fast-check";
import { PointQueue } from "./point_queue.ts";
import { PointStore, type StoredPoint } from "./point_store.ts";
import type { Point } from "./point.ts";
import { Status } from "./status.ts";

function point(id: string): Point {
  return { id, value: 1, type: "Double", status: Status.Good, time: 1000, hops: [], cause: null };
}

/** Takes every waiting point's id, oldest first. */
function drain(q: PointQueue): string[] {
  const out: string[] = [];
  for (let p = q.shift(); p !== undefined; p = q.shift()) out.push(p.id);
  return out;
}

Deno.test("a point queue gives each waiting point once, in the order first added, and forgets removed points whose slots go to new ones", () => {
  const store = new PointStore("plant1");
  const q = new PointQueue();
  const [a, b, c] = ["a", "b", "c"].map((id) => store.apply(point(`plant1/${id}`), "sim")!);
  q.add(c!);
  q.add(a!);
  q.add(c!);
  assertEquals(q.size, 2);
  assertEquals(q.shift()?.id, "plant1/c");
  // Taken, then added again: it waits behind the others.
  q.add(c!);
  q.add(b!);
  assertEquals(q.size, 3);
  // Removed while waiting (the store tells its sinks while the point still has its slot).
  store.subscribe({ onUpdate: () => {}, onRemove: (p) => q.delete(p) });
  store.remove("plant1/a");
  const d = store.apply(point("plant1/d"), "sim")!;
  q.add(d);
  q.add(a!);
  assertEquals(q.size, 3);
  assertEquals(drain(q), ["plant1/c", "plant1/b", "plant1/d"]);
  assertEquals(q.size, 0);
  assertEquals(q.shift(), undefined);
});

Deno.test("a point queue takes points as an insertion-ordered set of them would (property)", () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant("apply" as const), id: fc.integer({ min: 0, max: 9 }) }),
    fc.record({ kind: fc.constant("add" as const), id: fc.integer({ min: 0, max: 9 }) }),
    fc.record({ kind: fc.constant("remove" as const), id: fc.integer({ min: 0, max: 9 }) }),
    fc.record({ kind: fc.constant("delete" as const), id: fc.integer({ min: 0, max: 9 }) }),
    fc.record({ kind: fc.constant("shift" as const), id: fc.constant(0) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const store = new PointStore("plant1");
      const q = new PointQueue();
      const model = new Set<StoredPoint>();
      store.subscribe({
        onUpdate: () => {},
        onRemove: (p) => {
          q.delete(p);
          model.delete(p);
        },
      });
      for (const { kind, id } of ops) {
        const key = `plant1/${id}`;
        if (kind === "apply") store.apply(point(key), "sim");
        else if (kind === "remove") store.remove(key);
        else if (kind === "delete") {
          // Taken out while the store still holds it.
          const p = store.get(key);
          if (p !== undefined) {
            q.delete(p);
            model.delete(p);
          }
        } else if (kind === "add") {
          const p = store.get(key);
          if (p !== undefined) {
            q.add(p);
            model.add(p);
          }
        } else {
          const expected = model.values().next().value;
          if (expected !== undefined) model.delete(expected);
          assertSame(q.shift(), expected);
        }
        assertEquals(q.size, model.size);
      }
      assertEquals(drain(q), [...model].map((p) => p.id));
    }),
    { numRuns: 300 },
  );
});

Deno.test("a point queue that moves its waiting points to the front of its list keeps them in order, and takes new ones after them", () => {
  const store = new PointStore("plant1");
  const points = Array.from(
    { length: 100_000 },
    (_, i) => store.apply(point(`plant1/${i}`), "sim")!,
  );
  const q = new PointQueue();
  for (const p of points) q.add(p);
  // Past 65,536 taken and more than half of the list: the rest moves to the front.
  const taken: string[] = [];
  for (let i = 0; i < 70_000; i++) taken.push(q.shift()!.id);
  assertEquals(taken, points.slice(0, 70_000).map((p) => p.id));
  for (const p of points.slice(0, 70_000)) q.add(p);
  assertEquals(q.size, 100_000);
  assertEquals(drain(q), [...points.slice(70_000), ...points.slice(0, 70_000)].map((p) => p.id));
  // Emptied, it starts over with what comes next.
  q.add(points[5]!);
  q.add(points[3]!);
  assertEquals(drain(q), ["plant1/5", "plant1/3"]);
});
