import { deepStrictEqual as assertEquals } from "node:assert";
import { ManualClock } from "./clock.ts";
import { logger } from "./log.ts";
import { lastResortCollection, startMemoryRelease } from "./memory_release.ts";

const MiB = 1024 * 1024;

/** A hop's counters by hand: updates applied and heap committed; collections counted. */
function fakeHop(after = 30 * MiB) {
  const clock = new ManualClock(0);
  const abort = new AbortController();
  const h = { clock, abort, updates: 0, heap: after + 10 * MiB, collections: [] as number[] };
  startMemoryRelease({
    clock,
    updates: () => h.updates,
    heapBytes: () => h.heap,
    collect: () => {
      h.collections.push(clock.now());
      h.heap = after;
    },
    signal: abort.signal,
    log: logger("test"),
  });
  return h;
}

Deno.test("memory release: one collection after the first quiet seconds, none while busy", () => {
  const h = fakeHop();
  h.clock.advance(3000);
  assertEquals(h.collections, [3000], "start-up garbage goes after 3 quiet looks");
  // A load: 50,000 updates a second for 10 s, the heap grows; no collection meanwhile.
  for (let s = 0; s < 10; s++) {
    h.updates += 50_000;
    h.heap += 5 * MiB;
    h.clock.advance(1000);
  }
  assertEquals(h.collections, [3000], "never while the store is busy");
  // Quiet again: a collection after 3 quiet looks, then no more while nothing grows.
  h.clock.advance(2000);
  assertEquals(h.collections, [3000], "two quiet looks are not enough");
  h.clock.advance(1000);
  assertEquals(h.collections, [3000, 16000]);
  h.clock.advance(30_000);
  assertEquals(h.collections, [3000, 16000], "no repeat without growth");
});

Deno.test("memory release: a trickle of updates is quiet, small growth is not worth a pause", () => {
  const h = fakeHop();
  h.clock.advance(3000);
  for (let s = 0; s < 20; s++) {
    h.updates += 50; // the hop's own status points and a slow source
    h.heap += MiB / 4; // 5 MiB in 20 s: below the 8 MiB that makes one worth it
    h.clock.advance(1000);
  }
  assertEquals(h.collections, [3000]);
  h.heap += 4 * MiB;
  h.clock.advance(1000);
  assertEquals(h.collections, [3000, 24000], "9 MiB of growth while quiet");
});

Deno.test("memory release: stops with the hop", () => {
  const h = fakeHop();
  h.abort.abort();
  h.clock.advance(10_000);
  assertEquals(h.collections, []);
  assertEquals(h.clock.pending, 0);
});

Deno.test("memory release: no collection without --expose-gc (a hop in a test's process)", () => {
  const exposed = (globalThis as { gc?: unknown }).gc !== undefined;
  assertEquals(lastResortCollection() !== null, exposed);
});

Deno.test("memory release: a big heap needs a quarter of its size in growth", () => {
  const h = fakeHop(120 * MiB);
  h.clock.advance(3000);
  assertEquals(h.collections, [3000]);
  h.heap += 25 * MiB; // a swing of its own collections, quiet
  h.clock.advance(5000);
  assertEquals(h.collections, [3000], "25 MiB is less than a quarter of 120");
  h.heap += 10 * MiB;
  h.clock.advance(1000);
  assertEquals(h.collections, [3000, 9000]);
});

Deno.test("memory release: a heap too big to pause for is never collected", () => {
  const h = fakeHop(400 * MiB); // an OPC UA server's address space: a pause of a second
  h.clock.advance(10_000);
  assertEquals(h.collections, [], "410 MiB is above the 192 MiB cap");
  h.heap = 100 * MiB; // V8's own collections brought it down: fair game again
  h.clock.advance(1000);
  assertEquals(h.collections, [11000]);
});

Deno.test("memory release: collectAtStart collects at once and counts growth from there", () => {
  const clock = new ManualClock(0);
  const abort = new AbortController();
  const h = { heap: 40 * MiB, collections: [] as number[] };
  startMemoryRelease({
    clock,
    updates: () => 0,
    heapBytes: () => h.heap,
    collect: () => {
      h.collections.push(clock.now());
      h.heap = 30 * MiB;
    },
    signal: abort.signal,
    log: logger("test"),
    collectAtStart: true,
  });
  assertEquals(h.collections, [0], "at once, before any look");
  clock.advance(10_000);
  assertEquals(h.collections, [0], "quiet looks alone are no reason after it: nothing grew");
  h.heap += 9 * MiB;
  clock.advance(1000);
  assertEquals(h.collections, [0, 11_000], "growth since the start-up collection is");
  abort.abort();
});

Deno.test("memory release: a collection asked for by name runs at once, below the heap limit only, and counts growth from there", () => {
  const clock = new ManualClock(0);
  const abort = new AbortController();
  const h = { heap: 120 * MiB, collections: [] as number[], updates: 0 };
  const release = startMemoryRelease({
    clock,
    updates: () => h.updates,
    heapBytes: () => h.heap,
    collect: () => {
      h.collections.push(clock.now());
      h.heap = 80 * MiB;
    },
    signal: abort.signal,
    log: logger("test"),
    maxHeapBytes: 150 * MiB,
  });
  h.updates += 1_000_000; // busy: the quiet looks would not collect
  clock.advance(1000);
  assertEquals(release.collectNow("Subscribed"), true);
  assertEquals(h.collections, [1000]);
  h.heap += 5 * MiB;
  clock.advance(3000);
  assertEquals(h.collections, [1000], "quiet looks count growth from the named collection");
  h.heap = 160 * MiB;
  assertEquals(
    release.collectNow("Subscribed"),
    false,
    "above maxHeapBytes: its pause would be felt",
  );
  assertEquals(h.collections, [1000]);
  abort.abort();
  h.heap = 100 * MiB;
  assertEquals(release.collectNow("Subscribed"), false, "not once the hop stops");
});
