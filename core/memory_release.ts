/**
 * Gives memory back once a hop goes quiet after a load. V8 keeps what a load
 * made it commit (a young generation grown to its full size, old-generation
 * pages, large objects), and the memory reducer that would shrink it does not
 * run in a hop: measured on a relay holding 100,000 points, its anonymous
 * memory stayed at 102–106 MB for as long as it was left idle. A collection
 * of the "last resort" kind (V8's `CollectAllAvailableGarbage`, what a low
 * memory notification runs) shrinks the young generation and frees empty
 * pages: 102.6 → 81.6 MB. It is run once the store has applied next to
 * nothing for a few seconds and V8's heap has grown since the last one, so a
 * busy hop is never paused by it. A hop also runs one as soon as it has
 * started, before its links carry data (`collectAtStart`): it gives back what
 * loading the program left (an empty relay 42.5 → 34.4 MB) in about 20 ms
 * while nothing waits, instead of under load.
 */
import type { Clock } from "./clock.ts";
import type { Logger } from "./log.ts";

/** V8's `gc` as `--expose-gc` gives it, taking options (a regular full collection without `flavor`). */
type ExposedGc = (options: { type: "major"; flavor?: "last-resort" }) => void;

/** A full collection of `flavor`, when the hop runs with `--expose-gc` (hopV8Flags); `null` otherwise. */
function fullCollection(flavor?: "last-resort"): (() => void) | null {
  const gc = (globalThis as { gc?: ExposedGc }).gc;
  if (!gc) return null;
  const options = flavor ? { type: "major", flavor } as const : { type: "major" } as const;
  return () => gc(options);
}

/**
 * The collection that gives memory back, when the hop runs with
 * `--expose-gc` (hopV8Flags); `null` otherwise (a hop in a test's process).
 */
export function lastResortCollection(): (() => void) | null {
  return fullCollection("last-resort");
}

/**
 * A regular full collection, when the hop runs with `--expose-gc`; `null`
 * otherwise. Unlike the last-resort kind it leaves the young generation at
 * the size the load grew it to, for a collection that may come while data
 * flows: the start-up collection of a hop that pulls from a peer, which
 * waits for the peer's first snapshot (`HopServices.startLoad`), when the
 * peer's changes may already be arriving at a million a second.
 */
export function regularCollection(): (() => void) | null {
  return fullCollection();
}

/** How a hop decides it is quiet, and what it runs then. */
export interface MemoryReleaseOptions {
  clock: Clock;
  /** Updates the store has applied so far. */
  updates: () => number;
  /** Bytes V8's heap has committed now. */
  heapBytes: () => number;
  /** Runs the collection. */
  collect: () => void;
  signal: AbortSignal;
  log: Logger;
  /** Time between two looks; default 1 s. */
  checkMs?: number;
  /** Looks in a row below `quietRate` before a collection; default 3. */
  quietChecks?: number;
  /** Updates a second below which the hop is quiet (its own status points change a few times a second); default 100. */
  quietRate?: number;
  /**
   * Growth of the committed heap since the last collection that makes one worth
   * its pause: `growthBytes` (default 8 MiB) or `growthShare` of the heap after
   * the last one (default a quarter), whichever is more, so that a big heap
   * (an OPC UA server's address space: a 1.3 s pause at 100,000 nodes) is not
   * collected for the swings of its own collections. Before the first, any heap is worth one.
   */
  growthBytes?: number;
  growthShare?: number;
  /**
   * Committed heap above which no collection is run (default 192 MiB): its
   * pause grows with the heap (about 0.1 s for a relay at 100,000 points,
   * 0.9–1.3 s for an OPC UA server's address space of 100,000 nodes, which
   * its clients would feel), and what it gives back is then a small share.
   */
  maxHeapBytes?: number;
  /**
   * Collect once at once, before the first look: the hop asks for it when it
   * has started, before its links carry data, so that what loading the
   * program left goes while nothing waits. Otherwise V8's own first
   * mark-compact of it comes seconds later under load (measured: 8–16 ms of
   * stalled updates about 1 s into the latency bench's 50,000 updates/s, in
   * both relays at once).
   */
  collectAtStart?: boolean;
}

/** A running memory release, for collections asked for by name. */
export interface MemoryRelease {
  /**
   * Collects now, unless the heap is above `maxHeapBytes`, and logs it as
   * `<when>: gave back heap, …`; returns whether it collected. For the end of
   * a one-off phase that left a large heap behind while the hop stays busy
   * (an OPC UA source's read and subscription of 100,000 items), which the
   * quiet looks would never collect. `collect` runs instead of the release's
   * own collection (the hop's start-up collection put off until a first
   * snapshot is in runs a {@link regularCollection}).
   */
  collectNow(when: string, collect?: () => void): boolean;
}

/**
 * Looks every `checkMs` and runs `collect` when the hop has been quiet for
 * `quietChecks` looks and its heap grew enough since the last
 * collection (without `collectAtStart`, the first comes with the first quiet
 * looks); stops when `signal` aborts.
 */
export function startMemoryRelease(o: MemoryReleaseOptions): MemoryRelease {
  const checkMs = o.checkMs ?? 1000;
  const quietChecks = o.quietChecks ?? 3;
  const quietRate = o.quietRate ?? 100;
  const minGrowth = o.growthBytes ?? 8 * 1024 * 1024;
  const share = o.growthShare ?? 0.25;
  const maxHeap = o.maxHeapBytes ?? 192 * 1024 * 1024;
  let baseline = 0;
  /** Runs the collection, logs what it gave back after `when` and takes the heap as the new baseline. */
  const collect = (when: string, before: number, run = o.collect) => {
    const t0 = performance.now();
    run();
    baseline = o.heapBytes();
    o.log.info(`${when}: gave back heap, {before} → {after} MB in {ms} ms`, {
      before: Math.round(before / 1048576),
      after: Math.round(baseline / 1048576),
      ms: Math.round(performance.now() - t0),
    });
  };
  if (o.collectAtStart) collect("Started", o.heapBytes());
  let lastUpdates = o.updates();
  let lastAt = o.clock.now();
  let quiet = 0;
  const tick = () => {
    if (o.signal.aborted) return;
    const now = o.clock.now();
    const updates = o.updates();
    const rate = (updates - lastUpdates) / Math.max(0.001, (now - lastAt) / 1000);
    [lastUpdates, lastAt] = [updates, now];
    quiet = rate < quietRate ? quiet + 1 : 0;
    const before = o.heapBytes();
    const grown = before > baseline + Math.max(minGrowth, baseline * share);
    if (quiet >= quietChecks && grown && before <= maxHeap) {
      collect("Quiet", before);
    } else if (before < baseline) {
      baseline = before;
    }
    timer = o.clock.setTimeout(tick, checkMs);
  };
  let timer = o.clock.setTimeout(tick, checkMs);
  o.signal.addEventListener("abort", () => o.clock.clearTimeout(timer), { once: true });
  return {
    collectNow: (when, run) => {
      const before = o.heapBytes();
      if (o.signal.aborted || before > maxHeap) return false;
      collect(when, before, run);
      return true;
    },
  };
}
