import {
  deepStrictEqual as assertEquals,
  ok as assert,
  strictEqual as assertStrictEquals,
} from "node:assert";
import { PointStore, type StoredPoint } from "./point_store.ts";
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

Deno.test("removing an origin's points keeps the ones still present", () => {
  const store = new PointStore("dmz");
  for (const id of ["p/a", "p/b", "p/c"]) store.apply(point(id, 1), "link:p");
  store.apply(point("dmz/x", 1), "sim");
  assertEquals(store.removeFromOrigin("link:p", new Set(["p/b"])), 2);
  assertEquals([...store.values()].map((p) => p.id), ["p/b", "dmz/x"]);
});
