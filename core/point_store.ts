/**
 * The point store: the mirrored data set of one hop. Sources apply updates,
 * sinks subscribe to changes; every point remembers which local source or
 * link delivered it so that a lost link fails exactly its points.
 */
import { logger } from "./log.ts";
import type { FailureCause, Point } from "./point.ts";
import { isBad, Status } from "./status.ts";
import { UnboxedState } from "./unboxed_state.ts";

/** A point as held by a hop's store. */
export interface StoredPoint extends Point {
  /** The local source or link that delivered it (`sim`, `opcua:plc1`, `link:dmz`); the store's to set. */
  readonly origin: string;
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

/**
 * How a sink is known to the store. A sink that throws is isolated: the
 * store catches the error, so the source (a link's receive path, a PLC's
 * notification) and every other sink go on as if nothing happened.
 */
export interface SubscribeOptions {
  /** Names the sink in the log line of its failures (`opcua-server`, `mqtt`, `watch`). */
  name: string;
  /**
   * Told of every failure of the sink, with the point it failed on (`null`
   * in `onBatchEnd`), so the adapter can show it in its status. Called on
   * the store's hot path when a sink keeps failing: keep it cheap. What it
   * throws is ignored.
   */
  onError?(error: unknown, point: StoredPoint | null): void;
}

/** Least time between two log lines about the same sink's failures. */
export const sinkErrorLogMs = 60_000;

/** Distinct failure messages remembered per sink (beyond, a message counts as known). */
const maxMessages = 64;

/** A subscribed listener with its name and failure bookkeeping. */
interface Sink {
  listener: StoreListener;
  name: string;
  onError: ((error: unknown, point: StoredPoint | null) => void) | undefined;
  /** Messages already logged. */
  logged: Set<string>;
  /** When the last line about this sink was logged; -Infinity before the first. */
  loggedAt: number;
  /** Failures since the last line that were not logged. */
  suppressed: number;
}

/** The message of anything thrown (`null` and strings included). */
function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  try {
    return String(e);
  } catch {
    return "an unprintable value";
  }
}

const slotKey = Symbol("slot");
type Slotted = StoredPoint & { [slotKey]: number };

/**
 * A point's slot in its store: a small integer, unique among the points the
 * store holds, so links can keep per-point state in arrays instead of maps
 * keyed by id; -1 once the point is removed. A removed point's slot goes to a
 * later new point (slots stay as few as the points held at the most, however
 * many ids come and go), so a consumer keeping per-slot state must compare
 * the point object it holds for a slot, not only the slot.
 */
export function pointSlot(point: StoredPoint): number {
  return (point as Slotted)[slotKey] ?? -1;
}

const routeKey = Symbol("route");

/**
 * A point's type, hop path and origin, which most points share with many
 * others: an entry holds one reference to a shared route instead of three
 * fields (16 bytes a point less; measured in docs/benchmarks.md). The store
 * hands out one route per type, path and origin, never changed: a point
 * whose route is the same object as before has the same type and path.
 */
export interface PointRoute {
  /** The points' data type. */
  readonly type: Point["type"];
  /** Their hop path, this hop last. */
  readonly hops: string[];
  /** The local source or link that delivered them. */
  readonly origin: string;
}

/**
 * A stored point's shared route (see {@link PointRoute}), so that a consumer
 * that remembers what it last passed on (a link's definitions) compares one
 * reference instead of a type and a path.
 */
export function pointRoute(point: StoredPoint): PointRoute {
  return (point as StoredPoint & { [routeKey]?: PointRoute })[routeKey] ??
    { type: point.type, hops: point.hops, origin: point.origin };
}

/**
 * A stored point; a class so that every entry has one shape from its creation.
 * Its value and status are held by {@link UnboxedState}: a hop forwarding a
 * million updates a second would otherwise allocate a heap number per update
 * that lives until the point's next update, long enough to be promoted, and
 * grow the old generation with garbage (relay RSS). The same holds for `time`,
 * which is why it starts at 0: a field declared without a value starts as
 * `undefined` (class fields are defined before the constructor runs), and V8
 * then keeps it as a tagged field that boxes every number stored in it
 * (measured: 16 bytes of heap per update for the time alone).
 */
class Entry extends UnboxedState implements StoredPoint {
  id: string;
  time = 0;
  cause: FailureCause | null;
  [routeKey]: PointRoute;
  [slotKey]: number;

  constructor(update: Point, route: PointRoute, slot: number) {
    super();
    this.id = update.id;
    this.value = update.value;
    this.status = update.status;
    this.time = update.time;
    this.cause = update.cause;
    this[routeKey] = route;
    this[slotKey] = slot;
  }

  get type(): Point["type"] {
    return this[routeKey].type;
  }

  get hops(): string[] {
    return this[routeKey].hops;
  }

  get origin(): string {
    return this[routeKey].origin;
  }
}

/** Counters for status output and benchmarks. */
export interface StoreStats {
  /** Points held now. */
  points: number;
  /** Updates applied since start. */
  updates: number;
  /** Points removed since start. */
  removals: number;
  /** Updates refused because this hop was already on their path. */
  refusedLoops: number;
}

/** The latest state of every point of one hop, with change notification. */
export class PointStore {
  /** The hop this store belongs to; appended to each point's hop path. */
  readonly hop: string;
  #points = new Map<string, Entry>();
  /**
   * Points held per origin, kept as points come, move and go, so that a
   * question about one origin (has a link brought anything yet?) does not
   * walk the whole store.
   */
  #originSizes = new Map<string, number>();
  #sinks: Sink[] = [];
  #sinkCount = 0;
  #now: () => number;
  #log = logger("store");
  #updates = 0;
  #removals = 0;
  #refusedLoops = 0;
  #nextSlot = 0;
  /** Slots of removed points, given to the next new points (last freed first). */
  #freeSlots: number[] = [];
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
  /** The routes of each stored path (a few: one per type and origin), and the last one handed out. */
  #routes = new WeakMap<string[], PointRoute[]>();
  #lastRoute: PointRoute = { type: "Double", hops: [], origin: "" };

  /** `now` times the rate limit of sink failure logs (tests pass their own clock). */
  constructor(hop: string, options: { now?: () => number } = {}) {
    this.hop = hop;
    this.#ownPath = [hop];
    this.#now = options.now ?? Date.now;
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
    if (!this.#originSizes.has(origin)) return;
    for (const p of this.#points.values()) if (p.origin === origin) yield p;
  }

  /** How many of the points held `origin` delivered (last). */
  originSize(origin: string): number {
    return this.#originSizes.get(origin) ?? 0;
  }

  /**
   * Applies an update delivered by `origin`. `update.hops` is the path so far,
   * without this hop. Returns the stored point, or `null` when the update was
   * refused because its path already contains this hop (a loop). `held` is
   * what this store returned for the same id before, if the caller kept it (a
   * link keeps one per point index): while the store still holds it, the id
   * is not looked up. A relay's every received update looked its id up in a
   * map of the whole data set, mostly missing the CPU's caches.
   */
  apply(update: Point, origin: string, held?: StoredPoint): StoredPoint | null {
    const hops = update.hops;
    for (let i = 0; i < hops.length; i++) {
      if (hops[i] === this.hop) {
        this.#refusedLoops++;
        return null;
      }
    }
    let entry = held !== undefined && pointSlot(held) >= 0 && held.id === update.id
      ? held as Entry
      : this.#points.get(update.id);
    if (entry === undefined) {
      const slot = this.#freeSlots.length > 0 ? this.#freeSlots.pop()! : this.#nextSlot++;
      entry = new Entry(update, this.#route(update.type, this.#extend(hops), origin), slot);
      this.#points.set(update.id, entry);
      this.#countOrigin(origin, 1);
    } else {
      entry.value = update.value;
      entry.status = update.status;
      entry.time = update.time;
      entry.cause = update.cause;
      const route = entry[routeKey];
      const samePath = extends1(route.hops, hops);
      if (route.type !== update.type || route.origin !== origin || !samePath) {
        if (route.origin !== origin) {
          this.#countOrigin(route.origin, -1);
          this.#countOrigin(origin, 1);
        }
        entry[routeKey] = this.#route(
          update.type,
          samePath ? route.hops : this.#extend(hops),
          origin,
        );
      }
    }
    this.#updates++;
    const sinks = this.#sinks;
    for (let i = 0; i < sinks.length; i++) {
      const sink = sinks[i]!;
      try {
        sink.listener.onUpdate(entry);
      } catch (e) {
        this.#failed(sink, e, entry);
      }
    }
    return entry;
  }

  #countOrigin(origin: string, by: 1 | -1): void {
    const n = (this.#originSizes.get(origin) ?? 0) + by;
    if (n > 0) this.#originSizes.set(origin, n);
    else this.#originSizes.delete(origin);
  }

  /** The shared route of `type`, `path` (from {@link #extend}) and `origin`. */
  #route(type: Point["type"], path: string[], origin: string): PointRoute {
    const last = this.#lastRoute;
    if (last.hops === path && last.type === type && last.origin === origin) return last;
    let routes = this.#routes.get(path);
    if (routes === undefined) this.#routes.set(path, routes = []);
    let route = routes.find((r) => r.type === type && r.origin === origin);
    if (route === undefined) routes.push(route = { type, hops: path, origin });
    this.#lastRoute = route;
    return route;
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

  /**
   * Removes a point; returns whether it existed. The sinks are told while the
   * point still has its slot; then its slot is -1 and free for a new point.
   */
  remove(id: string): boolean {
    const entry = this.#points.get(id);
    if (entry === undefined) return false;
    this.#points.delete(id);
    this.#countOrigin(entry.origin, -1);
    this.#removals++;
    for (const sink of this.#sinks) {
      try {
        sink.listener.onRemove(entry);
      } catch (e) {
        this.#failed(sink, e, entry);
      }
    }
    const slotted = entry as Slotted;
    this.#freeSlots.push(slotted[slotKey]);
    slotted[slotKey] = -1;
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
    const sinks = this.#sinks;
    for (let i = 0; i < sinks.length; i++) {
      const sink = sinks[i]!;
      try {
        sink.listener.onBatchEnd?.();
      } catch (e) {
        this.#failed(sink, e, null);
      }
    }
  }

  /**
   * Subscribes a sink; returns the function that unsubscribes it. What the
   * sink throws is caught (see {@link SubscribeOptions}); `options` names it
   * in the log (default `#<n>`, in order of subscription) and tells the adapter.
   */
  subscribe(listener: StoreListener, options?: SubscribeOptions): () => void {
    this.#sinkCount++;
    const sink: Sink = {
      listener,
      name: options?.name ?? `#${this.#sinkCount}`,
      onError: options?.onError,
      logged: new Set(),
      loggedAt: -Infinity,
      suppressed: 0,
    };
    this.#sinks.push(sink);
    return () => {
      this.#sinks = this.#sinks.filter((s) => s !== sink);
    };
  }

  /**
   * A sink threw. Logged at most once a minute per sink: a message not logged
   * before for that sink, or, while it keeps failing, one line with the count
   * of failures not logged since; the sink's `onError` hears of every one.
   */
  #failed(sink: Sink, error: unknown, point: StoredPoint | null): void {
    const message = errorMessage(error);
    const now = this.#now();
    const fresh = !sink.logged.has(message);
    if (now - sink.loggedAt >= sinkErrorLogMs && (fresh || sink.suppressed > 0)) {
      const props = {
        sink: sink.name,
        at: point === null ? "the end of a batch" : `point ${point.id}`,
        id: point?.id ?? null,
        error: message,
        suppressed: sink.suppressed,
      };
      if (sink.suppressed === 0) {
        this.#log.error(
          "Sink {sink} failed on {at}: {error}; that update is lost for this sink only, the hop and its other sinks go on",
          props,
        );
      } else {
        this.#log.error(
          "Sink {sink} failed on {at}: {error}; that update is lost for this sink only, the hop and its other sinks go on ({suppressed} more failures of this sink since its last log line)",
          props,
        );
      }
      if (fresh && sink.logged.size < maxMessages) sink.logged.add(message);
      sink.loggedAt = now;
      sink.suppressed = 0;
    } else {
      sink.suppressed++;
    }
    if (sink.onError === undefined) return;
    try {
      sink.onError(error, point);
    } catch { /* a failing error report is not a reason to stop delivering */ }
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
