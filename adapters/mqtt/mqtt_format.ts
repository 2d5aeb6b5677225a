/**
 * The contract between the bridge (connection, buffering, ordering) and a
 * payload format (Sparkplug B or JSON): what to send when a session starts,
 * how to send a batch of updates, and how to handle incoming commands.
 */
import {
  type HopContext,
  type Point,
  pointSlot,
  type StoredPoint,
  UnboxedState,
} from "../../core/mod.ts";
import type { MqttEffective } from "./options.ts";

/**
 * A point as the bridge hands it to a format: a copy of its state when it
 * changed (the broker is told no hop path), and, for a live change, the
 * point's store slot then, so that a format keeping something per point can
 * find it in an array rather than a map of ids (a Sparkplug edge node's map
 * lookups were 13–20% of an MQTT hop's time passing a saturated chain on). A
 * removed point's slot goes to a later one: check the id of what a slot
 * gives. Changes read back from the store-and-forward buffer have no slot.
 */
export interface OutPoint extends Point {
  readonly slot?: number;
}

/** The hop path of published copies: the broker is told none, and nothing changes it. */
const noHops: string[] = [];

/**
 * A copy of a live change for a format (see {@link OutPoint}). Its value and
 * status are kept as the store keeps them ({@link UnboxedState}): a copy waits for the
 * broker long enough to be promoted, and a field that held doubles beside
 * texts and bigints boxed every double written to it in a new heap number,
 * promoted with the copy (12.86 bytes left per copy taken again, four fifths
 * of them doubles, against 0.07 now: `tests/store_heap_test.ts`).
 * Every field is declared with a value of its type, so every copy has one
 * shape from its creation (adding the slot after made each copy change
 * shape: the last hop at 92–95% of a core instead of 72–89% for the same
 * throughput, three alternating chain runs).
 */
class OutCopy extends UnboxedState implements OutPoint {
  id = "";
  type: Point["type"] = "Double";
  // Numbers start as numbers: a field that first held `undefined` boxes every number written to it.
  time = 0;
  hops = noHops;
  cause: Point["cause"] = null;
  slot = 0;

  constructor(p: StoredPoint) {
    super();
    this.fill(p);
  }

  /** Fills the copy again with `p`'s state now. */
  fill(p: StoredPoint): void {
    this.id = p.id;
    this.value = p.value;
    this.type = p.type;
    this.status = p.status;
    this.time = p.time;
    this.cause = p.cause;
    this.slot = pointSlot(p);
  }

  /** Lets go of what the copy holds of the point, while it waits to be used again. */
  clear(): void {
    this.value = null;
    this.cause = null;
  }
}

/** A copy of a live change for a format (see {@link OutPoint}). */
export function outPoint(p: StoredPoint): OutPoint {
  return new OutCopy(p);
}

/**
 * The bridge's copies of live changes, used again once they were published
 * or spilled. A copy waits from the change until the broker acknowledged the
 * step that carried it (up to 50,000 waiting and 50,000 in flight), long
 * enough to outlive two young-generation collections: a saturated MQTT hop
 * promoted its copies to the old generation at tens of MB a second, and the
 * mark-compacts that this set off (each marking the whole data set) were
 * most of its garbage collection, a quarter of its time (heap sampling and
 * `--trace-gc` of the hop in the chain benchmark). A copy given back must not
 * be used again by whoever had it: formats encode what they are handed
 * before they return, and the bridge spills to disk as JSON at once. The
 * pool keeps as many copies as were out at once in the last `windowMs`, so a
 * hop whose broker caught up lets them go.
 */
export class OutPointPool {
  /** Copies to use again, `#free[0]` to `#free[#count - 1]`; the array does not shrink in between. */
  #free: OutCopy[] = [];
  #count = 0;
  /** Copies taken and not given back, and the most at once in this window. */
  #out = 0;
  #peak = 0;
  #windowStart: number;
  #now: () => number;
  #windowMs: number;

  constructor(now: () => number, windowMs = 10_000) {
    this.#now = now;
    this.#windowMs = windowMs;
    this.#windowStart = now();
  }

  /** A copy of `p`'s state now, to give back once used. */
  take(p: StoredPoint): OutPoint {
    if (++this.#out > this.#peak) this.#peak = this.#out;
    if (this.#count === 0) return new OutCopy(p);
    const o = this.#free[--this.#count]!;
    o.fill(p);
    return o;
  }

  /** Gives back `points`, all taken from this pool and no longer used. */
  giveBack(points: readonly OutPoint[]): void {
    const free = this.#free;
    for (let i = 0; i < points.length; i++) {
      const o = points[i] as OutCopy;
      o.clear();
      if (this.#count < free.length) free[this.#count] = o;
      else free.push(o);
      this.#count++;
    }
    this.#out -= points.length;
    const now = this.#now();
    if (now - this.#windowStart >= this.#windowMs) {
      // Keep what the busiest moment of the window needed.
      if (this.#count > this.#peak) this.#count = this.#peak;
      if (free.length > this.#count) free.length = this.#count;
      this.#peak = this.#out;
      this.#windowStart = now;
    }
  }

  /** Copies kept for use again, for tests. */
  get free(): number {
    return this.#count;
  }
}

/** A message to publish. */
export interface OutMessage {
  topic: string;
  payload: Uint8Array | string;
  qos: 0 | 1;
  retain: boolean;
}

/** One connected MQTT session as formats see it. */
export interface MqttSession {
  /** Publishes; rejects when the session closes before the broker acknowledged it. */
  publish(m: OutMessage): Promise<void>;
  /** Subscribes; rejects when the broker refuses. */
  subscribe(topics: string[]): Promise<void>;
  /**
   * Whether the format may publish data now (Sparkplug: born and, with a
   * primary host, that host online). The bridge buffers while it is false.
   */
  ready: boolean;
  /** Ends this session so that the bridge reconnects (a new Sparkplug bdSeq). */
  restart(reason: string): void;
}

/** What a format gets from the bridge. */
export interface FormatContext {
  ctx: HopContext;
  effective: MqttEffective;
  qos: 0 | 1;
}

/** A payload format of the bridge. */
export interface MqttFormat {
  /** The last will of the next connection attempt (Sparkplug NDEATH with the next bdSeq). */
  will(): OutMessage | undefined;
  /** Topics to subscribe to once connected, before anything is published. */
  subscriptions(): string[];
  /** Runs once a session is up: births, or nothing. Sets `session.ready` when data may flow. */
  online(session: MqttSession): Promise<void>;
  /**
   * Runs once per session when the buffer has been replayed and live data
   * starts: JSON republishes every point's current state (retained), so the
   * broker holds the latest state even of points that have not changed.
   */
  caughtUp(session: MqttSession): Promise<void>;
  /** Housekeeping between publishes while live (Sparkplug: births that were waiting). */
  tick?(session: MqttSession): Promise<void>;
  /** Publishes updates in order; `historical` for those replayed from the buffer. */
  publish(session: MqttSession, points: OutPoint[], historical: boolean): Promise<void>;
  /**
   * A point left the store (called from the store's listener, so it must be
   * quick): a format that keeps something per point forgets it here, so its
   * memory follows the points that exist rather than every id ever seen.
   */
  removed?(id: string): void;
  /** Handles a message on a subscribed topic (commands, primary host state). */
  message(session: MqttSession, topic: string, payload: Uint8Array): Promise<void>;
  /** Last words of a graceful stop (Sparkplug NDEATH). */
  goodbye(session: MqttSession): Promise<void>;
}

/**
 * Splits items into chunks of at most `maxItems` whose encoded size (as
 * `measure` gives it) stays under `max` bytes; 0 means no size limit and
 * nothing is measured. A single item too large goes alone (the broker decides).
 */
export function chunkBySize<T>(
  items: T[],
  max: number,
  measure: (chunk: T[]) => number,
  maxItems = 1000,
): T[][] {
  const out: T[][] = [];
  const stack: T[][] = [];
  for (let i = items.length; i > 0; i -= maxItems) {
    stack.push(items.slice(Math.max(0, i - maxItems), i));
  }
  if (max <= 0) return stack.reverse();
  for (let guard = 0; stack.length > 0 && guard < 1_000_000; guard++) {
    const chunk = stack.pop()!;
    if (chunk.length > 1 && measure(chunk) > max) {
      const mid = Math.ceil(chunk.length / 2);
      stack.push(chunk.slice(mid), chunk.slice(0, mid));
      continue;
    }
    out.push(chunk);
  }
  return out;
}

/** UTF-8 size of a string. */
export function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}
