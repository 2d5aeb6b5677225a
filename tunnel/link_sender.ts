/**
 * The sending side of a link: the hop's data set, then its changes, written
 * as data frames for as long as the peer and the socket take them. It never
 * queues updates: a store change only marks its point dirty, and a flush
 * sends each dirty point's current state, so a slow peer makes changes
 * coalesce instead of memory grow. Points the peer would refuse (its limits
 * are the same flags as this hop's) are not sent, and said so in the log.
 */
import {
  type Clock,
  type Logger,
  type PointRoute,
  pointRoute,
  pointSlot,
  type PointStore,
  Status,
  type StoredPoint,
  worthLogging,
} from "../core/mod.ts";
import { originCompleteFrame, simpleFrame } from "./control_frames.ts";
import { idBytesPerFrame } from "./_data_format.ts";
import { DataFrameWriter } from "./data_frame_writer.ts";
import { FrameType } from "./frames.ts";
import type { LinkLimits, LinkSideOptions } from "./link_limits.ts";
import type { OriginOwners } from "./origin_owners.ts";
import { ackEvery } from "./link_receiver.ts";
import { exceedsSize, utf8Size } from "./value_size.ts";
import type { Wire } from "./wire.ts";
import type { LinkCounters } from "./link_counters.ts";

/** Upper bound of one data frame's size, so batches stay well under --max-frame. */
const batchBytes = 64 * 1024;
/** Most point entries in one data frame. */
const batchPoints = 4096;
/**
 * Default flow-control window: data-frame bytes in flight before the sender
 * waits for the receiver's acknowledgement. A receiver acknowledges what it
 * has applied, so a sender can never bury a busy receiver under megabytes of
 * backlog: in Deno's node:tls a socket with a kernel backlog to read starves
 * every other socket of the process (their writes and their heartbeats).
 */
const defaultWindow = 1024 * 1024;
/**
 * Default window while a snapshot is being sent. A snapshot is bounded by the
 * data set, not by the update rate, and a new hop is waiting for all of it: a
 * saturated sender that needed a turn of its event loop per 1 MiB took 0.8 s to
 * write 100,000 points (3.7 MB), and 70 ms with this window.
 */
const snapshotWindow = 4 * 1024 * 1024;
/**
 * Default bytes a link may leave queued in its socket before it waits for a
 * drain. Above Node's 16 KiB high-water mark on purpose: a busy hop gets round
 * its event loop seldom, and one frame per round would starve the link.
 */
const defaultSendBuffer = 4 * 1024 * 1024;

function sameHops(a: string[] | undefined, b: string[]): boolean {
  if (a === b) return true;
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What the sending side of a link needs from its session. */
export interface LinkSenderOptions extends LinkSideOptions {
  wire: Wire;
  /** Data-frame bytes sent and not yet acknowledged (default: 1 MiB, 4 MiB during the snapshot). */
  window: number | undefined;
  /** Bytes left queued in the wire before the sender waits for a drain (default 4 MiB). */
  sendBuffer: number | undefined;
  /** Which origins this hop holds whole, shared by the hop's links. */
  owners: OriginOwners;
}

/** The sending side of one link session, started once hello has been exchanged. */
export class LinkSender {
  #wire: Wire;
  #counters: LinkCounters;
  #store: PointStore;
  #clock: Clock;
  #log: Logger;
  #hop: string;
  #peer: string;
  #origin: string;
  #limits: LinkLimits;
  #windowOption: number | undefined;
  #sendBuffer: number;
  /** Between {@link start} and {@link stop}: the session is open and this side sends. */
  #sending = false;

  // A dirty set of per-link point indexes, drained while the wire is writable.
  /**
   * Points this link follows, by store slot (its per-link index on the wire).
   * The store gives a removed point's slot to a later point: the entry is
   * then the new point, and the index is withdrawn from the peer before it
   * is defined again (see {@link #live}).
   */
  #points: (StoredPoint | undefined)[] = [];
  /** Entries in {@link #points}. */
  #known = 0;
  /**
   * The store's route (type and hop path) of each index as last defined to the
   * peer (none once withdrawn): shared by the points that have the same, and
   * the same object while a point's type and path stay.
   */
  #sent: (PointRoute | undefined)[] = [];
  /**
   * By index: 1 when the peer holds it (a removal withdraws it); 2 when the
   * peer holds it for a removed point whose slot another point took, so a
   * removal must go before anything else of that index.
   */
  #live = new Uint8Array(1024);
  /** 1 for an index waiting in {@link #queue}, by index. */
  #dirty = new Uint8Array(1024);
  #queue: number[] = [];
  #head = 0;
  #writable = true;
  #flushScheduled = false;
  /** Points of the snapshot still to send; 0: its end is due; -1: no snapshot under way. */
  #snapshotLeft = -1;
  /** When the snapshot began, for the log line that says how long it took. */
  #snapshotFrom = 0;
  #unsubscribe: (() => void) | null = null;

  #writer = new DataFrameWriter();
  /** Data-frame bytes sent, and acknowledged by the peer, since the session began. */
  #sentData = 0;
  #ackedData = 0;
  /** The hop path last checked for the peer, and whether the peer is on it. */
  #checkedHops: string[] | null = null;
  #peerOnPath = false;
  /** Points not sent, or sent without their value, for the peer's limits (for the log). */
  #withheld = 0;
  #owners: OriginOwners;
  /**
   * Origins this hop holds whole that the peer is still to be told of: each is
   * said once every point queued before it has been sent (the queue drained).
   */
  #complete = new Set<string>();
  #offComplete: (() => void) | null = null;

  constructor(options: LinkSenderOptions) {
    this.#wire = options.wire;
    this.#store = options.store;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#hop = options.hop;
    this.#peer = options.peer;
    this.#origin = options.origin;
    this.#limits = options.limits;
    this.#counters = options.counters;
    this.#windowOption = options.window;
    this.#sendBuffer = options.sendBuffer ?? defaultSendBuffer;
    this.#owners = options.owners;
  }

  /** Point updates waiting to be sent (each point at most once). */
  get pendingPoints(): number {
    return this.#queue.length - this.#head;
  }

  get #window(): number {
    const byDefault = this.#snapshotLeft > 0 ? snapshotWindow : defaultWindow;
    return Math.max(4 * ackEvery, this.#windowOption ?? byDefault);
  }

  /** Sends the snapshot, then follows the store's changes. */
  start(): void {
    this.#sending = true;
    const store = this.#store;
    this.#wire.write(simpleFrame(FrameType.SnapshotBegin));
    for (const p of store.values()) this.#mark(p);
    this.#snapshotLeft = this.pendingPoints;
    this.#snapshotFrom = this.#clock.now();
    this.#unsubscribe = store.subscribe({
      onUpdate: (p) => this.#onStoreChange(p),
      onRemove: (p) => this.#onStoreChange(p),
      // A link's data frame is applied: forward it now, not after the rest of the socket's read.
      onBatchEnd: () => {
        if (this.#flushScheduled) this.#flush();
      },
    }, { name: `link:${this.#peer}` });
    // Whole origins are said after the snapshot, and each one that becomes whole later.
    for (const [origin, link] of this.#owners.completeOrigins()) this.#tell(origin, link);
    this.#offComplete = this.#owners.onComplete((origin, link) => {
      this.#tell(origin, link);
      this.#scheduleFlush();
    });
    this.#flush();
  }

  /** Queues "every point of `origin` sent" unless its points came over this very link. */
  #tell(origin: string, link: string): void {
    if (link !== this.#origin && origin !== this.#peer) this.#complete.add(origin);
  }

  /** The session is over: nothing more is sent, and the store is not followed any more. */
  stop(): void {
    this.#sending = false;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    this.#offComplete?.();
    this.#offComplete = null;
    this.#complete.clear();
    this.#queue = [];
    this.#head = 0;
  }

  /** The wire can take more bytes again. */
  drained(): void {
    this.#writable = true;
    this.#flush();
  }

  /**
   * The peer has applied `bytes` of data frames in all: the window moves on.
   * False when that does not fit what was sent (the session closes).
   */
  acknowledged(bytes: number): boolean {
    if (bytes > this.#sentData || bytes < this.#ackedData) return false;
    this.#ackedData = bytes;
    this.#flush();
    return true;
  }

  #onStoreChange(p: StoredPoint): void {
    // Points that came over this very link are never sent back; skip them cheaply unless this
    // link follows their slot: the peer may hold that index (an older copy of the point, or
    // a removed point whose slot this one took), which must be withdrawn.
    if (p.origin === this.#origin && this.#points[pointSlot(p)] === undefined) return;
    this.#mark(p);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
  }

  #mark(p: StoredPoint): void {
    const idx = pointSlot(p);
    if (idx < 0) return;
    const held = this.#points[idx];
    if (held !== p) {
      this.#points[idx] = p;
      if (held !== undefined) {
        // The slot of a removed point, taken by a new one before the removal was sent.
        if (this.#live[idx] === 1) this.#live[idx] = 2;
        this.#sent[idx] = undefined;
      } else {
        this.#known++;
        if (idx >= this.#dirty.length) {
          const grow = (a: Uint8Array) => {
            const b = new Uint8Array(Math.max(a.length * 2, idx + 1));
            b.set(a);
            return b;
          };
          this.#dirty = grow(this.#dirty);
          this.#live = grow(this.#live);
        }
      }
    }
    if (this.#dirty[idx] === 0) {
      this.#dirty[idx] = 1;
      this.#queue.push(idx);
    }
  }

  /** Sends the current state of dirty points while the wire takes them. */
  #flush(): void {
    if (!this.#sending || !this.#writable) return;
    const peer = this.#peer;
    const w = this.#writer;
    const window = this.#window;
    while (
      (this.#head < this.#queue.length && this.#sentData - this.#ackedData < window) ||
      this.#snapshotLeft === 0
    ) {
      while (
        this.#head < this.#queue.length && w.entries < batchPoints && w.bytes < batchBytes &&
        w.idBytes < idBytesPerFrame && this.#snapshotLeft !== 0
      ) {
        const idx = this.#queue[this.#head++]!;
        if (this.#snapshotLeft > 0) this.#snapshotLeft--;
        this.#dirty[idx] = 0;
        const p = this.#points[idx]!;
        const exists = pointSlot(p) === idx;
        if (this.#live[idx] === 2) {
          // The peer holds this index for the slot's earlier point: withdrawn first.
          w.removal(idx);
          this.#live[idx] = 0;
        }
        // Type, path and origin in one read (the store's entry reads each through it).
        const route = pointRoute(p);
        let send = exists && route.origin !== this.#origin && !this.#peerOn(route.hops, peer);
        const sent = this.#sent[idx];
        if (send && sent !== route) {
          if (sent?.type !== route.type || !sameHops(sent.hops, route.hops)) {
            send = this.#fitsPeer(p);
            if (send) {
              w.definition(idx, p.id, route.type, route.hops);
              this.#sent[idx] = route;
            }
          } else this.#sent[idx] = route; // another origin, the same definition
        }
        if (send) {
          if (exceedsSize(p.value, this.#limits.maxValue)) this.#withholdValue(w, idx, p);
          else w.state(idx, p.value, p.status, p.time, p.cause);
          this.#counters.pointsSent++;
          this.#live[idx] = 1;
        } else if (this.#live[idx] === 1) {
          w.removal(idx);
          this.#live[idx] = 0;
          // Sent again later, it is defined again: the peer forgot the index.
          this.#sent[idx] = undefined;
        }
        if (!exists || (!send && route.origin === this.#origin)) {
          // Removed from the store (its slot may go to a new point), or come over this very
          // link and withdrawn: forgotten, so such points are skipped at their next change.
          this.#points[idx] = undefined;
          this.#sent[idx] = undefined;
          this.#known--;
        }
      }
      if (this.#head === this.#queue.length) {
        this.#queue.length = 0;
        this.#head = 0;
      } else if (this.#head > 65_536 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      let ok = true;
      if (w.entries > 0) {
        const frame = w.finish();
        this.#sentData += frame.length;
        ok = this.#wire.write(frame);
      }
      if (this.#snapshotLeft === 0) {
        this.#snapshotLeft = -1;
        ok = this.#wire.write(simpleFrame(FrameType.SnapshotEnd, this.#known)) && ok;
        this.#log.info("Snapshot of {points} points written to {peer} in {ms} ms", {
          points: this.#known,
          peer,
          ms: Math.round(this.#clock.now() - this.#snapshotFrom),
        });
      }
      // A write can end the session (the wire failed at once).
      if (!this.#sending) return;
      if (!ok && this.#wire.buffered() >= this.#sendBuffer) {
        this.#writable = false;
        return;
      }
    }
    if (this.#complete.size > 0 && this.#snapshotLeft === -1 && this.#head >= this.#queue.length) {
      for (const origin of this.#complete) this.#wire.write(originCompleteFrame(origin));
      this.#complete.clear();
    }
  }

  /**
   * Whether a point's id and path fit the peer's limits (the same flags on
   * every hop); one that does not is not sent, and logged, rather than
   * making the peer close the link at every attempt.
   */
  #fitsPeer(p: StoredPoint): boolean {
    const limits = this.#limits;
    const idBytes = p.id.length * 3 > limits.maxId ? utf8Size(p.id) : 0;
    const fits = idBytes <= limits.maxId && p.hops.length <= limits.maxHops;
    if (!fits && worthLogging(++this.#withheld)) {
      this.#log.warn(
        "Not sending {id} to {peer}: its {what} ({n} points withheld so far)",
        {
          id: p.id.slice(0, 256),
          peer: this.#peer,
          what: idBytes > limits.maxId
            ? `id of ${idBytes} bytes exceeds --max-id (${limits.maxId})`
            : `path of ${p.hops.length} hops exceeds --max-hops (${limits.maxHops})`,
          n: this.#withheld,
        },
      );
    }
    return fits;
  }

  /** Sends a point whose value exceeds --max-value as Bad without it, saying why. */
  #withholdValue(w: DataFrameWriter, idx: number, p: StoredPoint): void {
    const now = this.#clock.now();
    w.state(idx, null, Status.BadEncodingLimitsExceeded, p.time, {
      hop: this.#hop,
      via: this.#origin,
      since: now,
      reason: `its value exceeds --max-value (${this.#limits.maxValue} bytes)`,
    });
    if (worthLogging(++this.#withheld)) {
      this.#log.warn(
        "Sending {id} to {peer} as Bad: its value exceeds --max-value ({max} bytes) ({n} points withheld so far)",
        { id: p.id, peer: this.#peer, max: this.#limits.maxValue, n: this.#withheld },
      );
    }
  }

  /** Whether `peer` is on the hop path `hops`; paths are shared arrays, so the answer is cached. */
  #peerOn(hops: string[], peer: string): boolean {
    if (hops !== this.#checkedHops) {
      this.#checkedHops = hops;
      this.#peerOnPath = hops.includes(peer);
    }
    return this.#peerOnPath;
  }
}
