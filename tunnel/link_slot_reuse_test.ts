/**
 * Point-id churn through a link. The store gives a removed point's slot to a
 * later point, and a link's wire index is the sender's slot: the sender must
 * withdraw an index the peer holds before it defines it again for another
 * id, and its per-index state (and the receiver's) must stay as small as the
 * points held, however many ids come and go.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { ManualClock, type Point, pointSlot, PointStore, Status } from "../core/mod.ts";
import { FrameType, headerSize } from "./frames.ts";
import { readDataFrame } from "./data_frame_reader.ts";
import type { Link, LinkOptions } from "./link.ts";
import { Pair } from "./_link_pair.ts";

/** What the data frames of a pipe said, checked record by record as a strict peer would. */
class WireLog {
  /** Highest index seen in any record. */
  highest = -1;
  /** Indexes withdrawn and then defined again for another id. */
  redefined = 0;
  #held = new Map<number, string>();
  #lastId = new Map<number, string>();

  read(frame: Uint8Array): void {
    if (frame[4] !== FrameType.Data) return;
    readDataFrame(frame.subarray(headerSize), {
      definition: (index, id) => {
        this.#see(index);
        const held = this.#held.get(index);
        if (held !== undefined && held !== id) {
          throw new Error(`index ${index} redefined as ${id} while it holds ${held}`);
        }
        const last = this.#lastId.get(index);
        if (held === undefined && last !== undefined && last !== id) this.redefined++;
        this.#held.set(index, id);
        this.#lastId.set(index, id);
      },
      state: (index) => {
        this.#see(index);
        if (!this.#held.has(index)) throw new Error(`state of undefined index ${index}`);
      },
      removal: (index) => {
        this.#see(index);
        if (!this.#held.delete(index)) throw new Error(`removal of undefined index ${index}`);
      },
    });
  }

  #see(index: number): void {
    if (index > this.highest) this.highest = index;
  }
}

/** A push link from `from` to `to`; every frame the sender writes is checked by `log`. */
class PushPair extends Pair {
  log = new WireLog();
  constructor(from: PointStore, to: PointStore, extra: Partial<LinkOptions> = {}) {
    super(new ManualClock(), from, to, "push", extra);
    this.ab.highWater = 4096;
    this.tap = (chunk) => this.log.read(chunk);
  }
  get sender(): Link {
    return this.a;
  }
  get receiver(): Link {
    return this.b;
  }

  /** Both ends are still open: no protocol error closed them. */
  assertOpen(): void {
    assertEquals(
      [this.a.state, this.a.closeReason, this.b.state, this.b.closeReason],
      ["open", "", "open", ""],
    );
  }
}

function point(id: string, value: number, extra: Partial<Point> = {}): Point {
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

/** The comparable content of a store's points of one origin prefix. */
function mirror(store: PointStore, prefix: string) {
  return [...store.values()].filter((p) => p.id.startsWith(prefix)).map((p) => ({
    id: p.id,
    value: p.value,
    type: p.type,
    status: p.status,
  })).sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}

Deno.test("ids churned through a link: the mirror equals the source after every round, and the indexes stay as few as the points held", async () => {
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  const live = 1000;
  const rounds = 60;
  const pair = new PushPair(plant, dmz);
  await pair.pump();
  let born = 0;
  let ids: string[] = [];
  for (let round = 0; round < rounds; round++) {
    const fresh = Array.from({ length: live }, (_, i) => `plant1/r${round}/p${born + i}`);
    born += live;
    switch (round % 3) {
      case 0: // the new ids first, then the old ones go
        fresh.forEach((id, i) => plant.apply(point(id, i), "sim"));
        ids.forEach((id) => plant.remove(id));
        break;
      case 1: // each old id goes and a new one takes its slot at once
        fresh.forEach((id, i) => {
          if (ids[i] !== undefined) plant.remove(ids[i]!);
          plant.apply(point(id, i), "sim");
        });
        break;
      default: // half of the old ones go, the new come, the kept ones change, the rest go
        ids.slice(0, live / 2).forEach((id) => plant.remove(id));
        fresh.forEach((id, i) => plant.apply(point(id, -i), "sim"));
        ids.slice(live / 2).forEach((id, i) => plant.apply(point(id, round + i), "sim"));
        ids.slice(live / 2).forEach((id) => plant.remove(id));
    }
    ids = fresh;
    await pair.pump();
    pair.assertOpen();
    assertEquals(plant.size, live);
    assertEquals(mirror(dmz, "plant1/"), mirror(plant, "plant1/"), `round ${round}`);
  }
  assert(pair.log.redefined > live, `${pair.log.redefined} indexes withdrawn and defined again`);
  assert(
    pair.log.highest < 3 * live,
    `highest index on the wire ${pair.log.highest} after ${born} ids, ${live} held`,
  );
});

Deno.test("a point removed and another given its slot before the sender flushes: the peer's index is withdrawn first", async () => {
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  const pair = new PushPair(plant, dmz);
  const old = plant.apply(point("plant1/old", 1), "sim")!;
  plant.apply(point("plant1/kept", 2), "sim");
  await pair.pump();
  assertEquals(dmz.get("plant1/old")?.value, 1);
  // In one tick: old goes, new takes its slot, is removed too, and newer takes the slot again.
  const slot = pointSlot(old);
  plant.remove("plant1/old");
  const nu = plant.apply(point("plant1/new", 3), "sim")!;
  assertEquals(pointSlot(nu), slot);
  plant.remove("plant1/new");
  const newer = plant.apply(point("plant1/newer", 4), "sim")!;
  assertEquals(pointSlot(newer), slot);
  await pair.pump();
  pair.assertOpen();
  assertEquals(mirror(dmz, "plant1/"), mirror(plant, "plant1/"));
  assertEquals(dmz.get("plant1/old"), undefined);
  assertEquals(dmz.get("plant1/new"), undefined);
  assertEquals(dmz.get("plant1/newer")?.value, 4);
  // The same id back in the slot it had: withdrawn and defined again all the same.
  plant.remove("plant1/newer");
  assertEquals(pointSlot(plant.apply(point("plant1/newer", 5), "sim")!), slot);
  await pair.pump();
  pair.assertOpen();
  assertEquals(mirror(dmz, "plant1/"), mirror(plant, "plant1/"));
});

Deno.test("a slot reused while the sender is stalled, or during its snapshot, still reaches the peer as removal then definition", async () => {
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  for (let i = 0; i < 20_000; i++) plant.apply(point(`plant1/s/${i}`, i), "sim");
  const pair = new PushPair(plant, dmz, { window: 64 * 1024 });
  pair.ab.queue.splice(0).forEach((f) => pair.receiver.receive(f)); // the dialer's hello
  pair.ba.queue.splice(0).forEach((f) => pair.sender.receive(f)); // the listener's: the snapshot
  await Promise.resolve();
  // Part of the snapshot reached the peer, the rest waits for acknowledgements: churn both.
  pair.ab.queue.splice(0).forEach((f) => {
    pair.log.read(f);
    pair.receiver.receive(f);
  });
  assert(dmz.size > 0 && dmz.size < 20_000, `${dmz.size} points arrived`);
  for (let i = 0; i < 20_000; i += 7) {
    plant.remove(`plant1/s/${i}`);
    plant.apply(point(`plant1/t/${i}`, -i), "sim");
  }
  await pair.pump();
  pair.assertOpen();
  assertEquals(mirror(dmz, "plant1/"), mirror(plant, "plant1/"));
  // Stalled: generations of ids pass through slots the peer holds before anything is sent.
  pair.ab.stalled = true;
  for (let g = 0; g < 5; g++) {
    for (let i = 0; i < 20_000; i += 7) {
      plant.remove(g === 0 ? `plant1/t/${i}` : `plant1/g${g - 1}/${i}`);
      plant.apply(point(`plant1/g${g}/${i}`, g), "sim");
    }
    await Promise.resolve();
  }
  pair.ab.stalled = false;
  await pair.pump();
  pair.assertOpen();
  assertEquals(mirror(dmz, "plant1/"), mirror(plant, "plant1/"));
  assert(pair.log.highest < 20_000, `highest index ${pair.log.highest}`);
});

Deno.test("a slot taken by a point that came over the link itself: the peer's index is withdrawn, and that point is not followed after", async () => {
  const plant = new PointStore("plant1");
  const dmz = new PointStore("dmz");
  const pair = new PushPair(plant, dmz);
  const old = plant.apply(point("plant1/old", 1), "sim")!;
  await pair.pump();
  assertEquals(dmz.get("plant1/old")?.value, 1);
  const slot = pointSlot(old);
  plant.remove("plant1/old");
  // dmz's own point, as it arrives over a link from dmz: never sent back to dmz.
  const back = plant.apply(point("dmz/own", 7, { hops: ["dmz"] }), "link:dmz")!;
  assertEquals(pointSlot(back), slot);
  await pair.pump();
  pair.assertOpen();
  assertEquals(dmz.get("plant1/old"), undefined, "the removal of the slot's earlier point went");
  // Not followed any more: its changes do not even wait for a flush.
  plant.apply(point("dmz/own", 8, { hops: ["dmz"] }), "link:dmz");
  assertEquals(pair.sender.pendingPoints, 0);
  plant.remove("dmz/own");
  assertEquals(pair.sender.pendingPoints, 0);
  // Its slot goes to a point of this hop again: defined as usual.
  plant.apply(point("plant1/later", 9), "sim");
  await pair.pump();
  pair.assertOpen();
  assertEquals(mirror(dmz, "plant1/"), mirror(plant, "plant1/"));
});

Deno.test("a point withdrawn from the peer and sent again with the path it had is defined again", async () => {
  for (const via of ["link:dmz", "link:it"]) {
    const plant = new PointStore("plant1");
    const dmz = new PointStore("dmz");
    const pair = new PushPair(plant, dmz);
    plant.apply(point("x/p", 1, { hops: ["x"] }), "link:x");
    await pair.pump();
    assertEquals(dmz.get("x/p")?.value, 1);
    // The point now comes by way of dmz (over dmz's link, or another route through dmz).
    const hops = via === "link:dmz" ? ["x", "dmz"] : ["x", "dmz", "it"];
    plant.apply(point("x/p", 2, { hops }), via);
    await pair.pump();
    assertEquals(dmz.get("x/p"), undefined, `withdrawn (${via})`);
    // Back by its first route, with the path the peer was once told.
    plant.apply(point("x/p", 3, { hops: ["x"] }), "link:x");
    await pair.pump();
    pair.assertOpen();
    assertEquals(dmz.get("x/p")?.value, 3, via);
  }
});
