/**
 * The receiving side of a link: the peer's data frames applied to the store
 * under this hop's rules. The peer is authenticated but not trusted: it may
 * speak only for points that passed through it, of origins it may carry and
 * no other link owns, within the limits; each value is typed here, by its
 * point's declared type, and one that does not fit arrives Bad with this hop
 * as the cause instead of closing the link.
 */
import {
  type Clock,
  type DataType,
  type FailureCause,
  fitValue,
  hopNamePattern,
  isOriginHop,
  isStatusCode,
  type Logger,
  originHop,
  type Point,
  PointSet,
  pointSlot,
  type PointStore,
  Status,
  type StoredPoint,
  unfit,
  validTime,
  type Value,
  valueProblem,
  worthLogging,
} from "../core/mod.ts";
import { DataReader, type DataVisitor, tooLarge } from "./data_frame_reader.ts";
import { headerSize, ProtocolError, RuleError } from "./frames.ts";
import type { LinkLimits, LinkSideOptions } from "./link_limits.ts";
import type { OriginOwners } from "./origin_owners.ts";
import type { LinkCounters } from "./link_counters.ts";
import { type Definition, Definitions } from "./definitions.ts";

/** A receiver acknowledges at the latest after this many data-frame bytes (windows are larger). */
export const ackEvery = 16 * 1024;
/** Point indexes are store slots; anything beyond this is a hostile peer's, not a real point. */
const maxIndex = 2 ** 31;

/** What the receiving side of a link needs from its session. */
export interface LinkReceiverOptions extends LinkSideOptions {
  /** Which link owns each origin, shared by the hop's links. */
  owners: OriginOwners;
  /** Origins the peer may send points of; absent: any but this hop's own. */
  allowedOrigins: readonly string[] | undefined;
}

/**
 * The receiving side of one link session. It is the data reader's visitor:
 * {@link definition}, {@link state} and {@link removal} take the records of
 * each data frame in order.
 */
export class LinkReceiver implements DataVisitor {
  #store: PointStore;
  #clock: Clock;
  #log: Logger;
  #hop: string;
  #peer: string;
  #origin: string;
  #counters: LinkCounters;
  #limits: LinkLimits;
  #owners: OriginOwners;
  #allowedOrigins: readonly string[] | undefined;
  #reader: DataReader;
  /** Data-frame bytes received and applied, and acknowledged to the peer. */
  #applied = 0;
  #acked = 0;

  // The peer's point definitions by index, as parallel arrays (no object per point).
  /**
   * Each index's point: its id until a state of it is applied, then the
   * store's entry as last applied (which holds the id), so the store need not
   * look the id up.
   */
  #defPoints: (string | StoredPoint | undefined)[] = [];
  /** Each index's type and path, shared by the indexes that have the same. */
  #defs: Definition[] = [];
  /** Indexes defined and not removed (bounded by --max-link-points). */
  #defCount = 0;
  /** Indexes whose origin another link owns: their states are not applied. */
  #refusedIdx = new Set<number>();
  /** Origins whose refusal has been logged in this session. */
  #refusedOrigins = new Set<string>();
  /** The origin checked last, and the link that kept it (`null`: this link may carry it). */
  #lastOrigin = "";
  #lastOwner: string | null = null;
  /** Values refused, for the log. */
  #badValues = 0;
  /** One definition per distinct type and hop path, shared by every point of both. */
  #definitions = new Definitions();
  /** The decoder hands the same array for a run of one path: the path checked last. */
  #checkedHops: string[] | null = null;
  /**
   * The snapshot under way (`null`: none). A `first` one began with no point
   * of this link in the store (a new hop, or one the link had never reached):
   * points get this link as their origin only by its states, so every point
   * the link holds at its end came in it and none is left to look for. An
   * `again` one marks the points it states, to find those it left out.
   */
  #snapshot: "first" | "again" | null = null;
  /** The points stated since an `again` snapshot began. */
  #stated: PointSet | null = null;
  /**
   * Points of other origins the peer relays that its snapshot left out (it
   * had no data of their origin) and that it has not stated since: the only
   * points this link brought that it does not define (`null`: none).
   */
  #unstated: Set<StoredPoint> | null = null;
  /** The update handed to the store, reused: the store copies what it keeps. */
  #update: Point = {
    id: "",
    value: null,
    type: "Double",
    status: 0,
    time: 0,
    hops: [],
    cause: null,
  };

  constructor(options: LinkReceiverOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#hop = options.hop;
    this.#peer = options.peer;
    this.#origin = options.origin;
    this.#limits = options.limits;
    this.#counters = options.counters;
    this.#owners = options.owners;
    this.#allowedOrigins = options.allowedOrigins;
    this.#reader = new DataReader(options.limits);
  }

  /** The session is open and this side receives: the origins this link brings are its own. */
  opened(): void {
    this.#owners.up(this.#origin);
  }

  /**
   * The session is over: the link's origins are free for another link, and
   * every point received over it fails with `reason`. Returns how many.
   */
  lost(reason: string): number {
    this.#owners.down(this.#origin);
    return this.#store.failOrigin(this.#origin, {
      hop: this.#hop,
      via: this.#origin,
      since: this.#clock.now(),
      reason,
    });
  }

  /** Applies one data frame's body to the store. */
  data(body: Uint8Array): void {
    this.#reader.read(body, this);
    this.#store.endBatch();
    this.#applied += headerSize + body.length;
  }

  /**
   * The running total of data-frame bytes applied, when the peer is due an
   * acknowledgement of it (every {@link ackEvery} bytes); otherwise -1.
   */
  acknowledgement(): number {
    if (this.#applied - this.#acked < ackEvery) return -1;
    this.#acked = this.#applied;
    return this.#applied;
  }

  /**
   * A snapshot begins: unless it is the link's first (see `#snapshot`), the
   * points it states are marked, to find those it no longer has.
   */
  snapshotBegin(): void {
    const first = this.#store.originSize(this.#origin) === 0;
    this.#snapshot = first ? "first" : "again";
    this.#stated = first ? null : new PointSet();
  }

  /**
   * The snapshot is complete. The peer speaks for its own points: those it
   * no longer has are gone. Points it relays may be missing only because its
   * own link toward their origin is down (a relay that has just restarted):
   * those read as failed until their origin is back.
   */
  snapshotEnd(): void {
    const stated = this.#stated;
    if (this.#snapshot === null) throw new ProtocolError("Snapshot end without begin");
    this.#snapshot = null;
    this.#stated = null;
    const peer = this.#peer;
    const store = this.#store;
    // After a first snapshot, every point of the link; after another, one pass, looking up a
    // point's origin hop only for the few the snapshot left out.
    let points = 0;
    const gone: string[] = [];
    const unstated = new Set<StoredPoint>();
    if (stated === null) points = store.originSize(this.#origin);
    else {
      for (const p of store.fromOrigin(this.#origin)) {
        if (stated.has(p)) points++;
        else if (isOriginHop(p.id, peer)) gone.push(p.id);
        else unstated.add(p);
      }
    }
    this.#unstated = unstated.size > 0 ? unstated : null;
    const stale = unstated.size > 0
      ? store.failOrigin(this.#origin, {
        hop: this.#hop,
        via: this.#origin,
        since: this.#clock.now(),
        reason: `${peer} has no data from their origin hop`,
      }, (p) => unstated.has(p))
      : 0;
    for (const id of gone) store.remove(id);
    this.#log.info(
      "Snapshot from {peer}: {points} points, {gone} removed meanwhile, {stale} without data",
      { peer, points, gone: gone.length, stale },
    );
    // This hop now holds the whole data set of the peer's own points.
    const owner = this.#owners.ownerOf(peer);
    if (owner === undefined || owner === this.#origin) this.#owners.completed(peer, this.#origin);
  }

  /**
   * The peer has sent every point of `origin` it holds (it has heard from
   * that origin again since its snapshot said it had no data of it): points
   * of `origin` this hop holds from the link that the peer has not defined
   * were removed at the origin meanwhile, and go. Those are among the points
   * the snapshot left out, so only they are looked at, not the whole set.
   */
  originComplete(origin: string): void {
    if (origin === this.#hop) return;
    const owner = this.#owners.ownerOf(origin);
    if (owner !== undefined && owner !== this.#origin) return;
    const gone: string[] = [];
    const unstated = this.#unstated;
    if (unstated !== null) {
      for (const p of unstated) {
        // Held still, and still brought by this link (another link may have taken the point on).
        if (pointSlot(p) < 0 || p.origin !== this.#origin) unstated.delete(p);
        else if (isOriginHop(p.id, origin)) {
          gone.push(p.id);
          unstated.delete(p);
        }
      }
      if (unstated.size === 0) this.#unstated = null;
    }
    for (const id of gone) this.#store.remove(id);
    this.#store.endBatch();
    if (gone.length > 0) {
      this.#log.info("{peer} has every point of {origin} again: {gone} removed meanwhile", {
        peer: this.#peer,
        origin,
        gone: gone.length,
      });
    }
    this.#owners.completed(origin, this.#origin);
  }

  /** A point definition: checked against the peer's rights and the limits before it is kept. */
  definition(index: number, id: string, type: DataType, hops: string[]): void {
    const peer = this.#peer;
    // A peer speaks only for points that passed through it and that name their origin hop
    // first: it cannot forge another hop's points or this hop's own.
    const origin = hops[0];
    if (hops.at(-1) !== peer || origin === undefined || !isOriginHop(id, origin)) {
      throw new ProtocolError(`Point ${id} with path ${hops.join(">")} cannot come from ${peer}`);
    }
    if (index >= maxIndex) throw new ProtocolError(`Point index ${index} is out of range`);
    if (hops !== this.#checkedHops) {
      // Checked before the definitions are looked up by path: hop names hold no NUL, so the
      // keys of valid paths never collide.
      const bad = hops.find((h) => !hopNamePattern.test(h));
      if (bad !== undefined) {
        throw new ProtocolError(
          `Point ${id} has a path through "${bad}", which is not a hop name`,
        );
      }
      this.#checkedHops = hops;
    }
    const known = this.#defPoints[index];
    const before = typeof known === "object" ? known.id : known;
    if (before === undefined) {
      if (this.#defCount >= this.#limits.maxLinkPoints) {
        throw new RuleError(
          `${peer} defined more than --max-link-points (${this.#limits.maxLinkPoints}) points`,
        );
      }
    } else if (before !== id) {
      throw new ProtocolError(`Point index ${index} is redefined as another point (${id})`);
    }
    // --max-points is checked where a point would be created: at its first state.
    const owner = origin === this.#lastOrigin ? this.#lastOwner : this.#checkOrigin(origin);
    if (before === undefined) {
      this.#defCount++;
      this.#defPoints[index] = id;
    }
    this.#defs[index] = this.#definitions.of(type, hops);
    if (owner !== null) this.#refusedIdx.add(index);
    else if (this.#refusedIdx.size > 0) this.#refusedIdx.delete(index);
  }

  /**
   * A point's state, applied to the store. Its value is typed here, the one
   * place it is, by the type its definition declared.
   */
  state(
    index: number,
    value: Value | typeof tooLarge,
    status: number,
    time: number,
    cause: FailureCause | null,
  ): void {
    const before = this.#defPoints[index];
    if (before === undefined) throw new ProtocolError(`Undefined point index ${index}`);
    const id = typeof before === "object" ? before.id : before;
    if (this.#refusedIdx.size > 0 && this.#refusedIdx.has(index) && !this.#reclaim(index, id)) {
      return;
    }
    const u = this.#update;
    const def = this.#defs[index]!;
    const type = def.type;
    const v = value === tooLarge ? unfit : fitValue(type, value);
    if (
      v === unfit || !isStatusCode(status) || !validTime(time) ||
      (cause !== null && !validTime(cause.since))
    ) {
      this.#refuseState(id, type, value, v !== unfit, status, time, cause);
    } else {
      u.value = v;
      u.status = status;
      u.time = time;
      u.cause = cause;
    }
    const store = this.#store;
    // Definitions spread over several frames can each pass the check at definition time.
    if (store.size >= this.#limits.maxPoints && store.get(id) === undefined) {
      throw new RuleError(
        `${this.#peer} would make this hop hold more than --max-points (${this.#limits.maxPoints}) points`,
      );
    }
    u.id = id;
    u.type = type;
    u.hops = def.hops;
    const held = store.apply(u, this.#origin, typeof before === "object" ? before : undefined);
    // Assigned at the peer's index as the definitions are, not filled up to it: the index is the
    // peer's to choose (below 2^31), and a far one must not cost this hop an entry per index.
    this.#defPoints[index] = held ?? id;
    this.#counters.pointsReceived++;
    // A state refused as a loop still keeps the point the link brought before.
    if (this.#stated !== null || this.#unstated !== null) {
      const p = held ?? store.get(id);
      if (p !== undefined) {
        this.#stated?.add(p);
        this.#unstated?.delete(p);
      }
    }
  }

  /** A point the peer no longer has (or no longer sends on this link). */
  removal(index: number): void {
    const before = this.#defPoints[index];
    if (before === undefined) throw new ProtocolError(`Undefined point index ${index}`);
    const id = typeof before === "object" ? before.id : before;
    this.#defPoints[index] = undefined;
    this.#defCount--;
    if (this.#refusedIdx.size > 0) this.#refusedIdx.delete(index);
    // A removed point leaves the snapshot's stated points with its slot.
    const store = this.#store;
    if (store.get(id)?.origin === this.#origin) store.remove(id);
  }

  /**
   * Whether this link may carry points of `origin`: refuses the link (a
   * {@link RuleError}) for an origin outside the peer's, and returns the link
   * that keeps an origin it owns (`null` when this link may carry it).
   */
  #checkOrigin(origin: string): string | null {
    const allowed = this.#allowedOrigins;
    if (allowed !== undefined && !allowed.includes(origin)) {
      const peer = this.#peer;
      const relays = allowed.filter((a) => a !== peer);
      throw new RuleError(
        `${peer} may carry points of ${
          allowed.join(", ")
        } only, not of ${origin} (--peers ${peer}:push${
          relays.length ? `:relays=${relays.join("+")}` : ""
        }; add relays=${[...relays, origin].join("+")} if ${peer} relays ${origin})`,
      );
    }
    const owner = this.#owners.claim(origin, this.#origin);
    this.#lastOrigin = origin;
    this.#lastOwner = owner;
    if (owner !== null && !this.#refusedOrigins.has(origin)) {
      this.#refusedOrigins.add(origin);
      this.#log.warn(
        "Refused the points of {origin} from {peer}: {owner} brings {origin} and keeps it while it is up",
        { origin, peer: this.#peer, owner },
      );
    }
    return owner;
  }

  /** A refused index's origin may have been freed by its owner's link going down. */
  #reclaim(index: number, id: string): boolean {
    const origin = originHop(id);
    if (this.#owners.claim(origin, this.#origin) !== null) return false;
    this.#refusedIdx.delete(index);
    this.#lastOrigin = "";
    this.#log.info("Points of {origin} now come from {peer}", { origin, peer: this.#peer });
    return true;
  }

  /**
   * A received state that cannot be valid: the point goes on as Bad, without
   * a value, with this hop and link as the cause; the link stays up.
   * `fits`: whether the value fitted its type.
   */
  #refuseState(
    id: string,
    type: DataType,
    value: Value | typeof tooLarge,
    fits: boolean,
    status: number,
    time: number,
    cause: FailureCause | null,
  ): void {
    const now = this.#clock.now();
    const shown = (x: unknown) => String(x).slice(0, 64);
    const problem = value === tooLarge
      ? `a value larger than --max-value (${this.#limits.maxValue} bytes)`
      : !fits
      ? `${type} value ${shown(value)}: ${valueProblem(type, value) ?? "does not fit"}`
      : !isStatusCode(status)
      ? `status 0x${status.toString(16).toUpperCase()}, which is not an OPC UA status code`
      : !validTime(time)
      ? `time ${time}, which is not a valid time`
      : `failure time ${cause?.since}, which is not a valid time`;
    const u = this.#update;
    u.value = null;
    u.status = value === tooLarge
      ? Status.BadEncodingLimitsExceeded
      : Status.BadDataEncodingInvalid;
    u.time = now;
    u.cause = {
      hop: this.#hop,
      via: this.#origin,
      since: now,
      reason: `${this.#peer} sent ${problem}`,
    };
    if (worthLogging(++this.#badValues)) {
      this.#log.warn(
        "Refused a value of {id} from {peer}: {problem}; the point is Bad ({n} refused so far)",
        { id, peer: this.#peer, problem, n: this.#badValues },
      );
    }
  }
}
