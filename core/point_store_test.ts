import {
  deepStrictEqual as assertEquals,
  ok as assert,
  strictEqual as assertStrictEquals,
} from "node:assert";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { pointSlot, PointStore, sinkErrorLogMs, type StoredPoint } from "./point_store.ts";
import type { Point } from "./point.ts";
import { Status } from "./status.ts";

function point(id: string, value: Point["value"], extra: Partial<Point> = {}): Point {
  return {
    id,
    value,
    type: "Double",
    status: Status.Good,
    time: 1000,
    hops: [],
    cause: null,
    ...extra,
  };
}

function recorder(store: PointStore) {
  const events: string[] = [];
  store.subscribe({
    onUpdate: (p: StoredPoint) => events.push(`u ${p.id}=${String(p.value)}`),
    onRemove: (p: StoredPoint) => events.push(`r ${p.id}`),
  });
  return events;
}

Deno.test("store keeps the latest value of each point", () => {
  const store = new PointStore("plant1");
  store.apply(point("plant1/a", 1), "sim");
  store.apply(point("plant1/a", 2), "sim");
  store.apply(point("plant1/b", 3), "sim");
  assertEquals(store.size, 2);
  assertEquals(store.get("plant1/a")?.value, 2);
  assertEquals(store.get("plant1/b")?.value, 3);
  assertEquals(store.stats().updates, 3);
});

Deno.test("store notifies every sink of every change and removal", () => {
  const store = new PointStore("plant1");
  const a = recorder(store);
  const b = recorder(store);
  store.apply(point("plant1/a", 1), "sim");
  store.apply(point("plant1/a", 2), "sim");
  assert(store.remove("plant1/a"));
  assert(!store.remove("plant1/a"), "removing twice reports nothing removed");
  assertEquals(a, ["u plant1/a=1", "u plant1/a=2", "r plant1/a"]);
  assertEquals(b, a);
});

Deno.test("unsubscribed sinks hear nothing more", () => {
  const store = new PointStore("h");
  const seen: string[] = [];
  const off = store.subscribe({ onUpdate: (p) => seen.push(p.id), onRemove: () => {} });
  store.apply(point("h/a", 1), "sim");
  off();
  store.apply(point("h/b", 1), "sim");
  assertEquals(seen, ["h/a"]);
});

Deno.test("store keeps 64-bit integers exact beyond 2^53", () => {
  const store = new PointStore("plant1");
  const big = 2n ** 63n - 1n;
  const odd = 2n ** 53n + 1n;
  store.apply(point("plant1/i64", big, { type: "Int64" }), "sim");
  store.apply(point("plant1/u64", 2n ** 64n - 1n, { type: "UInt64" }), "sim");
  store.apply(point("plant1/odd", odd, { type: "Int64" }), "sim");
  assertStrictEquals(store.get("plant1/i64")?.value, big);
  assertStrictEquals(store.get("plant1/u64")?.value, 18446744073709551615n);
  assertStrictEquals(store.get("plant1/odd")?.value, 9007199254740993n);
});

Deno.test("store appends its hop to the path and refuses points that already passed it", () => {
  const store = new PointStore("dmz");
  const p = store.apply(point("plant1/a", 1, { hops: ["plant1"] }), "link:plant1");
  assertEquals(p?.hops, ["plant1", "dmz"]);
  const loop = store.apply(point("plant1/b", 1, { hops: ["plant1", "dmz", "it"] }), "link:it");
  assertEquals(loop, null);
  assertEquals(store.get("plant1/b"), undefined);
  assertEquals(store.stats().refusedLoops, 1);
});

Deno.test("failing an origin marks only its points, keeping usable values as uncertain", () => {
  const store = new PointStore("it");
  store.apply(point("plant1/good", 5, { hops: ["plant1", "dmz"] }), "link:dmz");
  store.apply(
    point("plant1/waiting", null, { status: Status.BadWaitingForInitialData, hops: ["plant1"] }),
    "link:dmz",
  );
  store.apply(point("it/own", 7), "sim");
  const cause = { hop: "it", via: "link:dmz", since: 42, reason: "connection reset" };
  assertEquals(store.failOrigin("link:dmz", cause), 2);
  const good = store.get("plant1/good")!;
  assertEquals(good.status, Status.UncertainNoCommunicationLastUsableValue);
  assertEquals(good.value, 5);
  assertEquals(good.cause, cause);
  assertEquals(good.hops, ["plant1", "dmz", "it"]);
  const waiting = store.get("plant1/waiting")!;
  assertEquals(waiting.status, Status.BadNoCommunication);
  assertEquals(waiting.value, null);
  assertEquals(store.get("it/own")!.status, Status.Good);
});

Deno.test("a failure further upstream keeps its cause when a nearer link also fails", () => {
  const store = new PointStore("it");
  const upstream = { hop: "dmz", via: "link:plant1", since: 1, reason: "heartbeat timeout" };
  store.apply(
    point("plant1/a", 5, {
      status: Status.UncertainNoCommunicationLastUsableValue,
      cause: upstream,
      hops: ["plant1", "dmz"],
    }),
    "link:dmz",
  );
  store.failOrigin("link:dmz", { hop: "it", via: "link:dmz", since: 2, reason: "reset" });
  assertEquals(store.get("plant1/a")!.cause, upstream);
});

Deno.test("the store counts the points of each origin as they come, move to another origin and go", () => {
  const store = new PointStore("dmz");
  const sizes = () => ["link:a", "link:b", "sim"].map((o) => store.originSize(o));
  store.apply(point("a/1", 1), "link:a");
  store.apply(point("a/2", 2), "link:a");
  store.apply(point("a/2", 3), "link:a");
  store.apply(point("dmz/x", 1), "sim");
  assertEquals(sizes(), [2, 0, 1]);
  store.apply(point("a/1", 4), "link:b");
  assertEquals(sizes(), [1, 1, 1]);
  assertEquals([...store.fromOrigin("link:b")].map((p) => p.id), ["a/1"]);
  store.remove("a/2");
  store.remove("a/2");
  assertEquals(sizes(), [0, 1, 1]);
  assertEquals([...store.fromOrigin("link:a")], []);
  // A refused loop changes nothing.
  store.apply(point("a/1", 5, { hops: ["a", "dmz"] }), "link:a");
  assertEquals(sizes(), [0, 1, 1]);
  store.removeFromOrigin("link:b");
  store.removeFromOrigin("sim");
  assertEquals(sizes(), [0, 0, 0]);
  assertEquals(store.size, 0);
});

Deno.test("an update applied with the entry kept from before changes that entry while it is held, and never a removed one", () => {
  const store = new PointStore("dmz");
  const a = store.apply(point("a/1", 1), "link:a")!;
  const b = store.apply(point("a/2", 2), "link:a")!;
  assertStrictEquals(store.apply(point("a/1", 3), "link:a", a), a);
  assertEquals(store.get("a/1")?.value, 3);
  // Kept for another id: that id's own entry changes.
  assertStrictEquals(store.apply(point("a/2", 4), "link:a", a), b);
  assertEquals([store.get("a/1")?.value, store.get("a/2")?.value], [3, 4]);
  // Removed, then the id back as a new entry: the kept one stays removed.
  store.remove("a/1");
  const again = store.apply(point("a/1", 5), "link:a", a)!;
  assert(again !== a && pointSlot(a) === -1);
  assertStrictEquals(store.apply(point("a/1", 6), "link:a", a), again);
  assertEquals([store.get("a/1")?.value, a.value, store.size], [6, 3, 2]);
});

Deno.test("removing an origin's points keeps the ones still present", () => {
  const store = new PointStore("dmz");
  for (const id of ["p/a", "p/b", "p/c"]) store.apply(point(id, 1), "link:p");
  store.apply(point("dmz/x", 1), "sim");
  assertEquals(store.removeFromOrigin("link:p", new Set(["p/b"])), 2);
  assertEquals([...store.values()].map((p) => p.id), ["p/b", "dmz/x"]);
});

/** Runs `body` with the hop's log lines collected as text (and restores logging after). */
async function withLog(body: (lines: string[]) => void | Promise<void>): Promise<void> {
  const lines: string[] = [];
  await configure({
    reset: true,
    sinks: {
      memory: (r: LogRecord) => lines.push(r.message.map((m) => String(m)).join("")),
    },
    loggers: [
      { category: ["hopgate"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  try {
    await body(lines);
  } finally {
    await reset();
  }
}

Deno.test("a sink that throws loses only its own update: apply goes on, the other sinks hear it, one line is logged with the point id", async () => {
  await withLog((lines) => {
    const store = new PointStore("plant1");
    const before = recorder(store);
    const errors: [string, string | null][] = [];
    store.subscribe({
      onUpdate: (p) => {
        if (p.value === -5.5) throw new Error(`Invalid variant value:${p.value}`);
      },
      onRemove: () => {
        throw null; // what node-opcua was seen to throw
      },
      onBatchEnd: () => {
        throw new Error("batch refused");
      },
    }, {
      name: "opcua-server",
      onError: (e, p) => errors.push([e instanceof Error ? e.message : String(e), p?.id ?? null]),
    });
    const after = recorder(store);
    for (let i = 0; i < 1000; i++) {
      const stored = store.apply(point("plant1/byte", -5.5, { type: "Byte" }), "link:dmz");
      assertEquals(stored?.value, -5.5, "apply returns the stored point despite the sink");
    }
    store.apply(point("plant1/ok", 1), "sim");
    store.endBatch();
    assert(store.remove("plant1/ok"));

    assertEquals(store.stats().updates, 1001);
    assertEquals(before.length, 1002);
    assertEquals(
      after,
      before,
      "sinks subscribed before and after the failing one hear everything",
    );
    assertEquals(errors.length, 1002, "onError hears of every failure");
    assertEquals(errors[0], ["Invalid variant value:-5.5", "plant1/byte"]);
    assertEquals(errors.at(-2), ["batch refused", null]);
    assertEquals(errors.at(-1), ["null", "plant1/ok"]);
    // One line per sink per minute: the first failure, naming the sink and the point.
    assertEquals(lines.length, 1, lines.join("\n"));
    assert(lines[0]!.includes("opcua-server"), lines[0]!);
    assert(lines[0]!.includes("point plant1/byte"), lines[0]!);
    assert(lines[0]!.includes("Invalid variant value:-5.5"), lines[0]!);
  });
});

Deno.test("a failing sink is logged at most once a minute, a new message first, with the count of failures not logged", async () => {
  await withLog((lines) => {
    let now = 1_000_000;
    const store = new PointStore("h", { now: () => now });
    let message = "first";
    store.subscribe({
      onUpdate: () => {
        throw new Error(message);
      },
      onRemove: () => {},
    }, { name: "flaky" });
    for (let i = 0; i < 100; i++) store.apply(point("h/a", i), "sim");
    message = "second";
    store.apply(point("h/b", 1), "sim");
    assertEquals(lines.length, 1, "a new message within the minute waits");
    now += sinkErrorLogMs;
    store.apply(point("h/c", 1), "sim");
    assertEquals(lines.length, 2);
    assert(lines[1]!.includes("point h/c") && lines[1]!.includes("second"), lines[1]!);
    assert(lines[1]!.includes("100 more failures"), lines[1]!);
    // The same message again: not logged again, but counted in the next line a minute later.
    for (let i = 0; i < 10; i++) store.apply(point("h/c", i), "sim");
    now += sinkErrorLogMs;
    store.apply(point("h/d", 1), "sim");
    for (let i = 0; i < 10; i++) store.apply(point("h/d", i), "sim");
    assertEquals(lines.length, 3, lines.join("\n"));
    assert(lines[2]!.includes("point h/d") && lines[2]!.includes("10 more failures"), lines[2]!);
  });
});

Deno.test("an onError that throws and a sink without a name change nothing for the others", async () => {
  await withLog((lines) => {
    const store = new PointStore("h");
    store.subscribe({
      onUpdate: () => {
        throw new TypeError("cannot read properties of undefined");
      },
      onRemove: () => {},
    }, {
      name: "bad-reporter",
      onError: () => {
        throw new Error("the report failed too");
      },
    });
    store.subscribe({
      onUpdate: () => {
        throw "a string";
      },
      onRemove: () => {},
    });
    const seen = recorder(store);
    store.apply(point("h/a", 1), "sim");
    assertEquals(seen, ["u h/a=1"]);
    assertEquals(lines.length, 2);
    assert(lines[0]!.includes("bad-reporter"), lines[0]!);
    assert(lines[1]!.includes("Sink #2 failed on point h/a: a string"), lines[1]!);
  });
});

Deno.test("failing an origin goes on past a sink that throws (a link's teardown)", () => {
  const store = new PointStore("dmz");
  store.apply(point("plant1/a", -5.5, { type: "Byte" }), "link:plant1");
  store.apply(point("plant1/b", 2), "link:plant1");
  const failures: string[] = [];
  store.subscribe({
    onUpdate: (p) => {
      if (p.type === "Byte") throw null;
    },
    onRemove: () => {},
  }, { name: "opcua-server", onError: (_e, p) => failures.push(p!.id) });
  const cause = { hop: "dmz", via: "link:plant1", since: 1, reason: "internal error" };
  assertEquals(store.failOrigin("link:plant1", cause), 2);
  assertEquals(failures, ["plant1/a"]);
  assertEquals(store.get("plant1/b")!.status, Status.UncertainNoCommunicationLastUsableValue);
});

Deno.test("a removed point's slot is -1 and goes to the next new point; the sinks hear the removal while it still has its slot", () => {
  const store = new PointStore("plant1");
  const a = store.apply(point("plant1/a", 1), "sim")!;
  const b = store.apply(point("plant1/b", 2), "sim")!;
  assertEquals([pointSlot(a), pointSlot(b)], [0, 1]);
  const heard: number[] = [];
  store.subscribe({ onUpdate: () => {}, onRemove: (p) => heard.push(pointSlot(p)) });
  store.remove("plant1/a");
  assertEquals(heard, [0]);
  assertStrictEquals(pointSlot(a), -1);
  const c = store.apply(point("plant1/c", 3), "sim")!;
  assertStrictEquals(pointSlot(c), 0, "the freed slot is taken before a new one");
  assertStrictEquals(pointSlot(a), -1, "the removed point keeps -1 once its slot is reused");
  const d = store.apply(point("plant1/d", 4), "sim")!;
  assertStrictEquals(pointSlot(d), 2);
  // The same id added again is a new point: it may get any free slot, never its old object's.
  store.remove("plant1/b");
  const b2 = store.apply(point("plant1/b", 5), "sim")!;
  assert(b2 !== b);
  assertStrictEquals(pointSlot(b2), 1);
  assertStrictEquals(pointSlot(b), -1);
});

Deno.test("slots stay as few as the points held at the most, however many ids come and go", () => {
  const store = new PointStore("plant1");
  const live = 100;
  let highest = -1;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < live; i++) {
      const p = store.apply(point(`plant1/r${round}/p${i}`, i), "sim")!;
      highest = Math.max(highest, pointSlot(p));
    }
    if (round > 0) { for (let i = 0; i < live; i++) store.remove(`plant1/r${round - 1}/p${i}`); }
    // Every slot held is distinct.
    const slots = new Set([...store.values()].map(pointSlot));
    assertStrictEquals(slots.size, store.size);
  }
  assertStrictEquals(store.size, live);
  assert(highest < 2 * live, `highest slot ${highest} after 5,000 ids, at most 200 held`);
});
