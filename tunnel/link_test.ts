import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import {
  type Logger,
  logger,
  ManualClock,
  type Point,
  PointStore,
  Status,
  type StatusCode,
  type WriteRequest,
} from "../core/mod.ts";
import { FrameReader, FrameType, protocolVersion } from "./frames.ts";
import { readDataFrame } from "./data_frame_reader.ts";
import { encodeFrame, helloFrame } from "./control_frames.ts";
import { Link } from "./link.ts";
import { OriginOwners } from "./origin_owners.ts";
import { Pair, Pipe } from "./_link_pair.ts";

function point(id: string, value: number, status: StatusCode = Status.Good): Point {
  return { id, value, type: "Double", status, time: 1000, hops: [], cause: null };
}

/** A listener-side link of hop dmz on its own, driven by hand (no peer link behind it). */
function listenerOptions(clock: ManualClock, store: PointStore) {
  return {
    clock,
    log: logger("test"),
    heartbeat: 1000,
    timeout: 5000,
    maxFrame: 1024,
    writeTimeout: 1000,
    onWrite: () => Promise.resolve(Status.Good as StatusCode),
    hop: "dmz",
    role: "listener" as const,
    store,
  };
}

/** The comparable content of a store's points of one origin prefix. */
function mirror(store: PointStore, prefix: string) {
  return [...store.values()].filter((p) => p.id.startsWith(prefix)).map((p) => ({
    id: p.id,
    value: p.value,
    type: p.type,
    status: p.status,
  })).sort((x, y) => x.id.localeCompare(y.id));
}

Deno.test("a push link sends a snapshot, then deltas and removals, and never sends points back", async () => {
  const clock = new ManualClock();
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  for (let i = 0; i < 10; i++) plant.apply(point(`plant1/p/${i}`, i), "sim");
  dmz.apply(point("dmz/own", 1), "sim");
  const pair = new Pair(clock, plant, dmz, "push");
  await pair.pump();
  assertEquals(pair.a.state, "open");
  assertEquals(pair.b.state, "open");
  assert(pair.a.sends && pair.b.receives);
  assertEquals(mirror(dmz, "plant1/"), mirror(plant, "plant1/"));
  assertEquals(dmz.get("plant1/p/3")?.hops, ["plant1", "dmz"]);
  assertEquals(dmz.get("plant1/p/3")?.origin, "link:plant1");
  assertEquals(plant.get("dmz/own"), undefined, "a push link carries data one way only");

  plant.apply(point("plant1/p/3", 33), "sim");
  plant.remove("plant1/p/4");
  await pair.pump();
  assertEquals(dmz.get("plant1/p/3")?.value, 33);
  assertEquals(dmz.get("plant1/p/4"), undefined);
  assertEquals(mirror(dmz, "plant1/"), mirror(plant, "plant1/"));
});

Deno.test("a point whose type or path changes upstream is defined again to the peer, and only then", async () => {
  const clock = new ManualClock();
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  plant.apply({ ...point("src/p", 1), hops: ["src"] }, "link:src");
  plant.apply({ ...point("src/q", 2), hops: ["src"] }, "link:src");
  const pair = new Pair(clock, plant, dmz, "push");
  // The definitions plant1 sends, read from its frames as dmz gets them.
  let definitions = 0;
  const frames = new FrameReader(1 << 20);
  pair.tap = (chunk) => {
    for (const [type, body] of frames.push(chunk)) {
      if (type !== FrameType.Data) continue;
      readDataFrame(body, { definition: () => definitions++, state: () => {}, removal: () => {} });
    }
  };
  await pair.pump();
  assertEquals(dmz.get("src/p")?.hops, ["src", "plant1", "dmz"]);
  assertEquals(definitions, 2);
  // A value change, and the same point brought by another of plant1's sources: no definition.
  plant.apply({ ...point("src/p", 3), hops: ["src"] }, "link:src");
  plant.apply({ ...point("src/q", 4), hops: ["src"] }, "link:other");
  await pair.pump();
  assertEquals([dmz.get("src/p")?.value, dmz.get("src/q")?.value], [3, 4]);
  assertEquals(definitions, 2);
  plant.apply({ ...point("src/p", 5), type: "Int32", hops: ["src"] }, "link:src");
  plant.apply({ ...point("src/q", 6), hops: ["src", "mid"] }, "link:other");
  await pair.pump();
  assertEquals(dmz.get("src/p")?.type, "Int32");
  assertEquals(dmz.get("src/q")?.hops, ["src", "mid", "plant1", "dmz"]);
  assertEquals(definitions, 4);
});

Deno.test("a point whose hop path contains the receiver is not sent to it", async () => {
  const clock = new ManualClock();
  const dmz = new PointStore("dmz");
  const it = new PointStore("it");
  dmz.apply({ ...point("it/loop", 1), hops: ["it"] }, "link:x");
  dmz.apply(point("dmz/ok", 2), "sim");
  const pair = new Pair(clock, it, dmz, "pull");
  await pair.pump();
  assert(pair.b.sends && pair.a.receives);
  assertEquals(it.get("it/loop"), undefined);
  assertEquals(it.get("dmz/ok")?.value, 2);
  assertEquals(it.stats().refusedLoops, 0);
});

Deno.test("link marks upstream points UncertainNoCommunication when peer goes silent", async () => {
  const clock = new ManualClock();
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  plant.apply(point("plant1/a", 1), "sim");
  const pair = new Pair(clock, plant, dmz, "push");
  await pair.pump();
  // Heartbeats keep a quiet link alive.
  for (let t = 0; t < 10; t++) {
    clock.advance(1000);
    await pair.pump();
  }
  assertEquals(pair.b.state, "open");
  assertEquals(dmz.get("plant1/a")?.status, Status.Good);
  pair.ab.cut = true;
  clock.advance(4999);
  await pair.pump();
  assertEquals(pair.b.state, "open");
  clock.advance(1001);
  await pair.pump();
  assertEquals(pair.b.state, "closed");
  const p = dmz.get("plant1/a")!;
  assertEquals(p.status, Status.UncertainNoCommunicationLastUsableValue);
  assertEquals(p.value, 1);
  assertEquals(p.cause?.hop, "dmz");
  assertEquals(p.cause?.via, "link:plant1");
  assert(/heartbeat timeout/.test(p.cause?.reason ?? ""), p.cause?.reason);
  assertEquals(p.cause?.since, clock.now() - 1000, "failed exactly when the timeout ran out");
});

Deno.test("a reconnect resynchronises exactly, including points removed while the link was down", async () => {
  const clock = new ManualClock();
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  for (let i = 0; i < 5; i++) plant.apply(point(`plant1/p/${i}`, i), "sim");
  const first = new Pair(clock, plant, dmz, "push");
  await first.pump();
  first.a.ended("test reset");
  first.b.ended("connection reset");
  assertEquals(dmz.get("plant1/p/0")?.status, Status.UncertainNoCommunicationLastUsableValue);
  plant.remove("plant1/p/1");
  plant.apply(point("plant1/p/2", 22), "sim");
  plant.apply(point("plant1/p/9", 9), "sim");
  const second = new Pair(clock, plant, dmz, "push");
  await second.pump();
  assertEquals(mirror(dmz, "plant1/"), mirror(plant, "plant1/"));
  for (const p of dmz.fromOrigin("link:plant1")) assertEquals(p.cause, null);
});

Deno.test("a first snapshot counts the points it brought without a sweep; a later one removes what the peer no longer has", async () => {
  const clock = new ManualClock();
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  for (let i = 0; i < 5; i++) plant.apply(point(`plant1/p/${i}`, i), "sim");
  // Points of other origins are neither counted nor swept.
  dmz.apply(point("dmz/own", 1), "sim");
  const snapshots: Record<string, unknown>[] = [];
  const log = logger("test");
  const recording: Logger = {
    debug: (m, p) => log.debug(m, p),
    info: (m, p) => {
      if (m.startsWith("Snapshot from")) snapshots.push(p ?? {});
      log.info(m, p);
    },
    warn: (m, p) => log.warn(m, p),
    error: (m, p) => log.error(m, p),
    getChild: (c) => log.getChild(c),
  };
  const first = new Pair(clock, plant, dmz, "push", {}, { log: recording });
  await first.pump();
  assertEquals(snapshots.map((s) => [s.points, s.gone, s.stale]), [[5, 0, 0]]);
  first.a.ended("test reset");
  first.b.ended("connection reset");
  plant.remove("plant1/p/1");
  plant.apply(point("plant1/p/9", 9), "sim");
  const second = new Pair(clock, plant, dmz, "push", {}, { log: recording });
  await second.pump();
  assertEquals(snapshots.map((s) => [s.points, s.gone, s.stale]), [[5, 0, 0], [5, 1, 0]]);
  assertEquals(mirror(dmz, "plant1/"), mirror(plant, "plant1/"));
  assertEquals(dmz.originSize("link:plant1"), 5);
  assertEquals(dmz.get("dmz/own")?.value, 1);
});

Deno.test("a stalled receiver makes the sender coalesce: one pending state per point, final values delivered in order", async () => {
  const clock = new ManualClock();
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  const n = 1000;
  for (let i = 0; i < n; i++) plant.apply(point(`plant1/p/${i}`, 0), "sim");
  const pair = new Pair(clock, plant, dmz, "push");
  await pair.pump();
  const seen = new Map<string, number[]>();
  dmz.subscribe({
    onUpdate: (p) => {
      const list = seen.get(p.id) ?? [];
      list.push(p.value as number);
      seen.set(p.id, list);
    },
    onRemove: () => {},
  });
  pair.ab.stalled = true;
  pair.ab.highWater = 4096;
  for (let round = 1; round <= 50; round++) {
    for (let i = 0; i < n; i++) plant.apply(point(`plant1/p/${i}`, round), "sim");
    await Promise.resolve();
    assert(pair.a.pendingPoints <= n, `pending ${pair.a.pendingPoints}`);
  }
  assert(pair.ab.bytes < 16 * 1024 + 300 * 1024, `buffered ${pair.ab.bytes}`);
  pair.ab.stalled = false;
  await pair.pump();
  for (let i = 0; i < n; i++) {
    const values = seen.get(`plant1/p/${i}`) ?? [];
    assertEquals(values.at(-1), 50);
    assertEquals(values, [...values].sort((x, y) => x - y), "per-point order");
    assert(values.length < 50, "updates were coalesced");
  }
  assertEquals(pair.a.pendingPoints, 0);
});

Deno.test("a sender keeps at most its window of data unacknowledged and goes on at each acknowledgement", async () => {
  const clock = new ManualClock();
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  for (let i = 0; i < 20_000; i++) plant.apply(point(`plant1/p/${i}`, i), "sim");
  const window = 64 * 1024;
  const pair = new Pair(clock, plant, dmz, "push", { window });
  pair.ab.deliver(pair.b); // the dialer's hello
  pair.ba.deliver(pair.a); // the listener's hello: the sender starts its snapshot
  await Promise.resolve();
  const sent = pair.ab.deliver(pair.b); // acknowledgements go into ba, undelivered
  await Promise.resolve();
  assert(sent <= window + 64 * 1024 + 1024, `${sent} bytes sent without acknowledgement`);
  assert(dmz.size > 0 && dmz.size < 20_000, `${dmz.size} points arrived`);
  assertEquals(pair.ab.queue.length, 0, "nothing more is sent before an acknowledgement");
  await pair.pump();
  assertEquals(mirror(dmz, "plant1/"), mirror(plant, "plant1/"));
});

Deno.test("by default a snapshot may have 4 MiB unacknowledged, changes after it 1 MiB", async () => {
  const clock = new ManualClock();
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  const n = 100_000;
  for (let i = 0; i < n; i++) plant.apply(point(`plant1/line${i % 7}/p${i}`, i), "sim");
  const pair = new Pair(clock, plant, dmz, "push", { sendBuffer: 64 << 20 });
  pair.ab.deliver(pair.b); // the dialer's hello
  pair.ba.deliver(pair.a); // the listener's hello: the sender starts its snapshot
  await Promise.resolve();
  const snapshot = pair.ab.deliver(pair.b); // acknowledgements go into ba, undelivered
  assert(snapshot > 1.5 * 1024 * 1024 && snapshot <= 4 * 1024 * 1024 + 80 * 1024, `${snapshot}`);
  assertEquals(dmz.size, n, "the whole snapshot went without waiting for an acknowledgement");
  pair.ba.deliver(pair.a); // everything acknowledged
  for (let i = 0; i < n; i++) plant.apply(point(`plant1/line${i % 7}/p${i}`, -i), "sim");
  await Promise.resolve();
  const changes = pair.ab.deliver(pair.b);
  assert(changes > 0 && changes <= 1024 * 1024 + 80 * 1024, `${changes} bytes of changes`);
  await pair.pump();
  assertEquals(mirror(dmz, "plant1/"), mirror(plant, "plant1/"));
});

Deno.test("a write travels to the sending side and its result comes back; an unanswered one times out", async () => {
  const clock = new ManualClock();
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  plant.apply(point("plant1/a", 1), "sim");
  const got: WriteRequest[] = [];
  let answer: (s: StatusCode) => void = () => {};
  const pair = new Pair(clock, plant, dmz, "push", {
    onWrite: (r) => {
      got.push(r);
      return r.value === 5
        ? Promise.resolve(Status.Good)
        : new Promise<StatusCode>((res) => answer = res);
    },
  });
  await pair.pump();
  const ok = pair.b.requestWrite({ id: "plant1/a", value: 5, via: ["dmz"] }, "Double");
  await pair.pump();
  assertEquals(await ok, Status.Good);
  assertEquals(got, [{ id: "plant1/a", value: 5, via: ["dmz"] }]);
  const slow = pair.b.requestWrite({ id: "plant1/a", value: 6, via: ["dmz"] }, "Double");
  await pair.pump();
  clock.advance(3000);
  assertEquals(await slow, Status.BadTimeout);
  answer(Status.Good);
  // The sending side may not write toward the receiver.
  assertEquals(
    await pair.a.requestWrite({ id: "dmz/x", value: 1, via: [] }, "Double"),
    Status.BadNotConnected,
  );
});

Deno.test("a listener closes a link whose hello is missing, late or names the wrong hop", () => {
  const clock = new ManualClock();
  const store = new PointStore("dmz");
  const base = { ...listenerOptions(clock, store), peer: "plant1" };
  const silent = new Link(new Pipe(), base);
  silent.start();
  clock.advance(5000);
  assertEquals(silent.state, "closed");
  assert(/no hello/.test(silent.closeReason), silent.closeReason);

  const trickle = new Link(new Pipe(), base);
  trickle.start();
  const hello = helloFrame({
    version: protocolVersion,
    hop: "plant1",
    to: "dmz",
    direction: "push",
  });
  for (let i = 0; i < 5; i++) {
    trickle.receive(hello.subarray(i, i + 1));
    clock.advance(999);
  }
  clock.advance(5);
  assertEquals(trickle.state, "closed", "a hello trickled a byte at a time must not hold the slot");
  assert(/no hello/.test(trickle.closeReason), trickle.closeReason);

  const liar = new Link(new Pipe(), base);
  liar.start();
  liar.receive(helloFrame({ version: protocolVersion, hop: "it", to: "dmz", direction: "push" }));
  assertEquals(liar.state, "closed");
  assert(/certificate names "plant1"/.test(liar.closeReason), liar.closeReason);

  const old = new Link(new Pipe(), base);
  old.start();
  old.receive(helloFrame({ version: 99, hop: "plant1", to: "dmz", direction: "push" }));
  assert(/version 99/.test(old.closeReason), old.closeReason);

  const chatty = new Link(new Pipe(), base);
  chatty.start();
  chatty.receive(encodeFrame(FrameType.Data, [[], [], []]));
  assert(/hello first/.test(chatty.closeReason), chatty.closeReason);

  const huge = new Link(new Pipe(), base);
  huge.start();
  huge.receive(new Uint8Array([0, 1, 0, 0, 3]));
  assert(/exceeds --max-frame/.test(huge.closeReason), huge.closeReason);
  assertEquals(clock.pending, 0, "closed links leave no timers");
});

Deno.test("a peer that sends a point not originating upstream of it is cut off", async () => {
  const clock = new ManualClock();
  const evil = new PointStore("evil");
  const dmz = new PointStore("dmz");
  evil.apply(point("dmz/$links/plant1/connected", 1), "sim");
  const pair = new Pair(clock, evil, dmz, "push");
  await pair.pump();
  assertEquals(dmz.get("dmz/$links/plant1/connected"), undefined);
  assertEquals(pair.b.state, "closed");
});

Deno.test("a relay forwards a received data frame before it returns from the read, not a turn later", async () => {
  const clock = new ManualClock();
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  const it = new PointStore("it");
  plant.apply(point("plant1/a", 1), "sim");
  const up = new Pair(clock, plant, dmz, "push");
  const down = new Pair(clock, it, dmz, "pull");
  await up.pump();
  await down.pump();
  assertEquals(it.get("plant1/a")?.value, 1);

  plant.apply(point("plant1/a", 2), "sim");
  await Promise.resolve(); // plant1's link flushes in a microtask
  // dmz reads the frame: its link towards it has written the change when receive() returns.
  assert(up.ab.deliver(up.b) > 0, "plant1 sent the change");
  assert(down.ba.queue.length > 0, "dmz forwarded within the read");
  await down.pump();
  assertEquals(it.get("plant1/a")?.value, 2);
  assertEquals(it.get("plant1/a")?.hops, ["plant1", "dmz", "it"]);
});

Deno.test("a link must deliver whole frames within its timeout: bytes trickled into a frame never finished do not keep it or its points alive", async () => {
  const clock = new ManualClock();
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  plant.apply(point("plant1/a", 1), "sim");
  const pair = new Pair(clock, plant, dmz, "push");
  await pair.pump();
  assertEquals(dmz.get("plant1/a")?.status, Status.Good);
  // The plant's side now sends one byte of a frame header every 900 ms and nothing else.
  const partial = new Uint8Array([0, 0, 1, 0, FrameType.Ping, 1, 2, 3, 4, 5, 6, 7]);
  for (let i = 0; i < partial.length && pair.b.state === "open"; i++) {
    pair.b.receive(partial.subarray(i, i + 1));
    clock.advance(900);
  }
  assertEquals(pair.b.state, "closed");
  assert(/heartbeat timeout/.test(pair.b.closeReason), pair.b.closeReason);
  assertEquals(dmz.get("plant1/a")?.status, Status.UncertainNoCommunicationLastUsableValue);
});

Deno.test("a listener binds each peer to its role: a hello asking for another direction is refused, naming the rule", () => {
  const clock = new ManualClock();
  const base = listenerOptions(clock, new PointStore("dmz"));
  const cases = [
    ["plant1", "push", false, "pull", /plant1 may only push its data, not pull/],
    ["it", "pull", false, "push", /it may only pull, not push \(its role in --peers is pull/],
    ["ops", "watch", true, "push", /a bare name in --peers means watch; write ops:push/],
  ] as const;
  for (const [peer, peerRole, bareRole, direction, re] of cases) {
    const link = new Link(new Pipe(), { ...base, peer, peerRole, bareRole });
    link.start();
    link.receive(helloFrame({ version: protocolVersion, hop: peer, to: "dmz", direction }));
    assertEquals(link.state, "closed");
    assert(re.test(link.closeReason), link.closeReason);
    assert(link.closeReason.startsWith("refused: "), link.closeReason);
  }
  const ok = new Link(new Pipe(), { ...base, peer: "ops", peerRole: "watch", bareRole: true });
  ok.start();
  ok.receive(helloFrame({ version: protocolVersion, hop: "ops", to: "dmz", direction: "pull" }));
  assertEquals(ok.state, "open");
  ok.close("test done");
});

Deno.test("origins stay with the link that brought them while it is up, and move to another link once it is down", async () => {
  const clock = new ManualClock();
  const owners = new OriginOwners();
  const dmz = new PointStore("dmz");
  const a = new PointStore("relayA");
  const b = new PointStore("relayB");
  // Both relays carry plant1's point (each path ends with the relay).
  a.apply({ ...point("plant1/x", 1), hops: ["plant1"] }, "link:plant1");
  b.apply({ ...point("plant1/x", 666), hops: ["plant1"] }, "link:plant1");
  const pa = new Pair(clock, a, dmz, "push", {}, { owners });
  await pa.pump();
  const pb = new Pair(clock, b, dmz, "push", {}, { owners });
  await pb.pump();
  assertEquals(dmz.get("plant1/x")?.value, 1, "relayB may not take plant1 from relayA");
  assertEquals(dmz.get("plant1/x")?.origin, "link:relayA");
  b.apply({ ...point("plant1/x", 667), hops: ["plant1"] }, "link:plant1");
  await pb.pump();
  assertEquals(dmz.get("plant1/x")?.value, 1);
  // relayA goes: its points fail, and relayB's next state takes plant1 over.
  pa.a.close("relayA stopping");
  await pa.pump();
  assertEquals(dmz.get("plant1/x")?.status, Status.UncertainNoCommunicationLastUsableValue);
  b.apply({ ...point("plant1/x", 668), hops: ["plant1"] }, "link:plant1");
  await pb.pump();
  assertEquals(dmz.get("plant1/x")?.value, 668);
  assertEquals(dmz.get("plant1/x")?.origin, "link:relayB");
  assertEquals(pb.b.state, "open");
});
