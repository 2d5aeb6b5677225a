/**
 * The point store: the mirrored data set of one hop. Sources apply updates,
 * sinks subscribe to changes; every point remembers which local source or
 * link delivered it so that a lost link fails exactly its points.
 */
import type { FailureCause, Point } from "./point.ts";
import { isBad, Status } from "./status.ts";

/** A point as held by a hop's store. */
export interface StoredPoint extends Point {
  /** The local source or link that delivered it (`sim`, `opcua:plc1`, `link:dmz`). */
  origin: string;
}

/** A sink's view of the store's changes. Entries are live objects: copy what you keep. */
export interface StoreListener {
  /** A point was created or changed. */
  onUpdate(point: StoredPoint): void;
  /** A point was removed; `point` is its last state. */
  onRemove(point: StoredPoint): void;
  /**
   * A source finished a batch of updates (a link, after each data frame):
   * a sink that collects changes may pass them on now rather than later.
   */
  onBatchEnd?(): void;
}

const slotKey = Symbol("slot");
type Slotted = StoredPoint & { [slotKey]: number };

/**
 * A point's slot in its store: a small integer, unique among every point the
 * store has held, so links can keep per-point state in arrays instead of
 * maps keyed by id; -1 once the point is removed (a point added again gets a
 * new slot). Slots are not reused.
 */
export function pointSlot(point: StoredPoint): number {
  return (point as Slotted)[slotKey] ?? -1;
}

/**
 * A stored point; a class so that every entry has one shape from its creation.
 * A numeric value lives in a field that only ever holds numbers, which V8
 * updates in place: a hop forwarding a million updates a second would
 * otherwise allocate a heap number per update that lives until the point's
 * next update, long enough to be promoted, and grow the old generation with
 * garbage (relay RSS).
 */
class Entry implements StoredPoint {
  id: string;
  #number = 0;
  #other: Point["value"] = null;
  #isNumber = false;
  type: Point["type"];
  status: Point["status"];
  time: number;
  hops: string[];
  cause: FailureCause | null;
  origin: string;
  [slotKey]: number;

  constructor(update: Point, hops: string[], origin: string, slot: number) {
    this.id = update.id;
    this.value = update.value;
    this.type = update.type;
    this.status = update.status;
    this.time = update.time;
    this.hops = hops;
    this.cause = update.cause;
    this.origin = origin;
    this[slotKey] = slot;
  }

  get value(): Point["value"] {
    return this.#isNumber ? this.#number : this.#other;
  }

  set value(v: Point["value"]) {
    if (typeof v === "number") {
      this.#number = v;
      this.#isNumber = true;
      this.#other = null;
    } else {
      this.#other = v;
      this.#isNumber = false;
    }
  }
}

/** Counters for status output and benchmarks. */
export interface StoreStats {
  points: number;
  updates: number;
  removals: number;
  refusedLoops: number;
}

/** The latest state of every point of one hop, with change notification. */
export class PointStore {
  /** The hop this store belongs to; appended to each point's hop path. */
  readonly hop: string;
  #points = new Map<string, StoredPoint>();
  #listeners: StoreListener[] = [];
  #updates = 0;
  #removals = 0;
  #refusedLoops = 0;
  #nextSlot = 0;
  /** The path of points that start here. */
  #ownPath: string[];
  /**
   * Each incoming hop path's array and the path with this hop appended. Points
   * that travelled the same way share one array (treated as immutable), so a
   * hop holding many points does not hold a path per point.
   */
  #paths = new WeakMap<readonly string[], string[]>();
  #lastIn: readonly string[] | null = null;
  #lastOut: string[] = [];

  constructor(hop: string) {
    this.hop = hop;
    this.#ownPath = [hop];
  }

  /** Number of points held. */
  get size(): number {
    return this.#points.size;
  }

  /** The current state of one point. */
  get(id: string): StoredPoint | undefined {
    return this.#points.get(id);
  }

  /** Every point, in insertion order. */
  values(): IterableIterator<StoredPoint> {
    return this.#points.values();
  }

  /** Points delivered by one origin. */
  *fromOrigin(origin: string): Generator<StoredPoint> {
    for (const p of this.#points.values()) if (p.origin === origin) yield p;
  }

  /**
   * Applies an update delivered by `origin`. `update.hops` is the path so far,
   * without this hop. Returns the stored point, or `null` when the update was
   * refused because its path already contains this hop (a loop).
   */
  apply(update: Point, origin: string): StoredPoint | null {
    const hops = update.hops;
    for (let i = 0; i < hops.length; i++) {
      if (hops[i] === this.hop) {
        this.#refusedLoops++;
        return null;
      }
    }
    let entry = this.#points.get(update.id);
    if (entry === undefined) {
      entry = new Entry(update, this.#extend(update.hops), origin, this.#nextSlot++);
      this.#points.set(update.id, entry);
    } else {
      entry.value = update.value;
      entry.type = update.type;
      entry.status = update.status;
      entry.time = update.time;
      entry.cause = update.cause;
      entry.origin = origin;
      if (!extends1(entry.hops, hops)) entry.hops = this.#extend(hops);
    }
    this.#updates++;
    const ls = this.#listeners;
    for (let i = 0; i < ls.length; i++) ls[i]!.onUpdate(entry);
    return entry;
  }

  #extend(hops: string[]): string[] {
    if (hops.length === 0) return this.#ownPath;
    // Updates come in runs over one path (a link's frame): the last answer first.
    if (hops === this.#lastIn && extends1(this.#lastOut, hops)) return this.#lastOut;
    let path = this.#paths.get(hops);
    if (path === undefined || !extends1(path, hops)) {
      path = [...hops, this.hop];
      this.#paths.set(hops, path);
    }
    this.#lastIn = hops;
    this.#lastOut = path;
    return path;
  }

  /** Removes a point; returns whether it existed. */
  remove(id: string): boolean {
    const entry = this.#points.get(id);
    if (entry === undefined) return false;
    this.#points.delete(id);
    this.#removals++;
    for (const l of this.#listeners) l.onRemove(entry);
    (entry as Slotted)[slotKey] = -1;
    return true;
  }

  /** Removes every point of `origin` whose id is not in `keep`; returns how many went. */
  removeFromOrigin(origin: string, keep: ReadonlySet<string> = new Set()): number {
    const gone = [...this.fromOrigin(origin)].filter((p) => !keep.has(p.id));
    for (const p of gone) this.remove(p.id);
    return gone.length;
  }

  /**
   * Marks every point of a lost origin with the failure status of OPC UA
   * Part 8: a point with a usable value keeps it as
   * UncertainNoCommunicationLastUsableValue, any other becomes
   * BadNoCommunication with a null value. A point that already carries a cause
   * (a failure further upstream) keeps that earlier cause. `only` narrows the
   * points concerned. Returns the count.
   */
  failOrigin(
    origin: string,
    cause: FailureCause,
    only: (p: StoredPoint) => boolean = () => true,
  ): number {
    let n = 0;
    // One incoming path per distinct stored path, so failed points keep sharing theirs.
    const before = new Map<string[], string[]>();
    for (const p of [...this.fromOrigin(origin)]) {
      if (!only(p)) continue;
      const usable = p.value !== null && !isBad(p.status);
      const status = usable
        ? Status.UncertainNoCommunicationLastUsableValue
        : Status.BadNoCommunication;
      const keepCause = p.cause !== null;
      if (p.status === status && keepCause) continue;
      this.apply(
        {
          id: p.id,
          value: usable ? p.value : null,
          type: p.type,
          status,
          time: p.time,
          hops: before.get(p.hops) ?? before.set(p.hops, p.hops.slice(0, -1)).get(p.hops)!,
          cause: keepCause ? p.cause : cause,
        },
        origin,
      );
      n++;
    }
    return n;
  }

  /** Tells the sinks that a batch of updates is complete (see {@link StoreListener.onBatchEnd}). */
  endBatch(): void {
    const ls = this.#listeners;
    for (let i = 0; i < ls.length; i++) ls[i]!.onBatchEnd?.();
  }

  /** Subscribes a sink; returns the function that unsubscribes it. */
  subscribe(listener: StoreListener): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** Counters since the store was made. */
  stats(): StoreStats {
    return {
      points: this.#points.size,
      updates: this.#updates,
      removals: this.#removals,
      refusedLoops: this.#refusedLoops,
    };
  }
}

/** True when `stored` is `prefix` plus exactly one more hop. */
function extends1(stored: string[], prefix: string[]): boolean {
  if (stored.length !== prefix.length + 1) return false;
  for (let i = 0; i < prefix.length; i++) if (stored[i] !== prefix[i]) return false;
  return true;
}
