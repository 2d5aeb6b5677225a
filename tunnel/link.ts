/**
 * One link session: the protocol state machine over an established, already
 * authenticated byte stream. Hello → snapshot → deltas, heartbeats both ways,
 * coalescing under back-pressure, writes upstream, and failure of every point
 * received over the link when it dies. Sockets stay outside (see {@link Wire})
 * so the machine can be driven by tests with a manual clock.
 */
import {
  type Clock,
  type DataType,
  type FailureCause,
  fitValue,
  hopNamePattern,
  isStatusCode,
  type Logger,
  originHop,
  type PeerRole,
  type Point,
  pointSlot,
  type PointStore,
  Status,
  type StatusCode,
  type StoredPoint,
  type TimerId,
  unfit,
  validTime,
  type Value,
  valueProblem,
  type WriteRequest,
} from "../core/mod.ts";
import {
  DataFrameWriter,
  DataReader,
  type DataVisitor,
  decodeFrame,
  type Direction,
  type Frame,
  FrameReader,
  FrameType,
  headerSize,
  type Hello,
  helloFrame,
  idBytesPerFrame,
  ProtocolError,
  protocolVersion,
  RuleError,
  simpleFrame,
  tooLarge,
  writeFrame,
  writeResultFrame,
} from "./frame_codec.ts";
import { exceedsSize, utf8Size } from "./value_size.ts";
import { OriginOwners } from "./origin_owners.ts";

/** The byte stream under a link. */
export interface Wire {
  /** Queues bytes; returns false when the stream's buffer is full and a drain will follow. */
  write(bytes: Uint8Array): boolean;
  /** Bytes queued and not yet taken by the kernel. */
  buffered(): number;
  /** Ends the stream (idempotent). */
  close(): void;
}

/** Where a link session is in its life. */
export type LinkState = "hello" | "open" | "closed";

/** Which side opened the connection. */
export type LinkRole = "dialer" | "listener";

/** Bounds on what a peer can make this hop hold and decode (see docs/security.md). */
export interface LinkLimits {
  /** Most points the hop holds; a link that would add more is closed. */
  maxPoints: number;
  /** Most point indexes one link may define. */
  maxLinkPoints: number;
  /** Longest id and cause text, UTF-8 bytes. */
  maxId: number;
  /** Longest hop path, in hops. */
  maxHops: number;
  /** Largest value received or sent; a larger one travels as Bad without it. */
  maxValue: number;
}

/** The limits' defaults, as the flags give them. */
export const defaultLimits: LinkLimits = {
  maxPoints: 1_000_000,
  maxLinkPoints: 500_000,
  maxId: 1024,
  maxHops: 16,
  maxValue: 256 * 1024,
};

/** What a link session needs. */
export interface LinkOptions {
  /** This hop's name. */
  hop: string;
  /** The peer's hop name, as authenticated by its certificate. */
  peer: string;
  role: LinkRole;
  /** Known by the dialer; the listener learns it from the dialer's hello. */
  direction?: Direction;
  store: PointStore;
  clock: Clock;
  log: Logger;
  /** Heartbeat interval, ms. */
  heartbeat: number;
  /** Silence after which the link is dead, ms (also bounds the wait for hello). */
  timeout: number;
  /** Largest frame accepted, bytes. */
  maxFrame: number;
  /** How long a write request waits for its result, ms. */
  writeTimeout: number;
  /** Bytes left queued in the wire before the link waits for a drain (default 4 MiB). */
  sendBuffer?: number;
  /** Data-frame bytes sent and not yet acknowledged by the peer (default 1 MiB). */
  window?: number;
  /** Bounds on the peer (default {@link defaultLimits}). */
  limits?: LinkLimits;
  /** Which link owns each origin, shared by the hop's links (default: this link's own). */
  owners?: OriginOwners;
  /**
   * On the listener: the role the peer is bound to (--peers); a hello asking
   * for another direction is refused, and a watcher's writes are denied.
   * Absent: the peer may dial either way (a watcher listening for one hop).
   */
  peerRole?: PeerRole;
  /** Written without a role in --peers (read as watch): said in refusals. */
  bareRole?: boolean;
  /** Origins the peer may send points of; absent: any but this hop's own. */
  origins?: readonly string[];
  /** Performs a write that arrived from the peer (this hop's policy, then onward). */
  onWrite(request: WriteRequest): Promise<StatusCode>;
  /** Called once when hello has been exchanged. */
  onOpen?(): void;
  /** Called once when the session ends, with why. */
  onClose?(reason: string): void;
  /** Called with each heartbeat round trip, ms. */
  onRtt?(ms: number): void;
}

/** The origin name of points received over a link with `peer`. */
export function linkOrigin(peer: string): string {
  return `link:${peer}`;
}

/** Upper bound of one data frame's size, so batches stay well under --max-frame. */
const batchBytes = 64 * 1024;
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
/** Point indexes are store slots; anything beyond this is a hostile peer's, not a real point. */
const maxIndex = 2 ** 31;
/** A receiver acknowledges at the latest after this many data-frame bytes (windows are larger). */
const ackEvery = 16 * 1024;
/** Most point entries in one data frame. */
const batchPoints = 4096;
/**
 * Default bytes a link may leave queued in its socket before it waits for a
 * drain. Above Node's 16 KiB high-water mark on purpose: a busy hop gets round
 * its event loop seldom, and one frame per round would starve the link.
 */
const defaultSendBuffer = 4 * 1024 * 1024;

/** True for 1, 10, 100, …: how often a repeated refusal is logged. */
function worthLogging(n: number): boolean {
  while (n >= 10 && n % 10 === 0) n /= 10;
  return n === 1;
}

function sameHops(a: string[] | undefined, b: string[]): boolean {
  if (a === b) return true;
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One session of a link between two hops. */
export class Link {
  #o: LinkOptions;
  #wire: Wire;
  #state: LinkState = "hello";
  #direction: Direction | null;
  #reader: FrameReader;
  #origin: string;
  #lastRx: number;
  #startedAt: number;
  #silenceTimer: TimerId = 0;
  #pingTimer: TimerId = 0;
  #closeReason = "";

  // Sending side: a dirty set of per-link point indexes, drained while the wire is writable.
  /** Points this link has seen, by store slot (its per-link index on the wire). */
  #points: (StoredPoint | undefined)[] = [];
  #known = 0;
  #sentType: (DataType | undefined)[] = [];
  #sentHops: (string[] | undefined)[] = [];
  #live = new Uint8Array(1024);
  #dirty = new Uint8Array(1024);
  #queue: number[] = [];
  #head = 0;
  #writable = true;
  #flushScheduled = false;
  #snapshotLeft = -1;
  /** When the snapshot began, for the log line that says how long it took. */
  #snapshotFrom = 0;
  #unsubscribe: (() => void) | null = null;

  #writer = new DataFrameWriter();
  /** Data-frame bytes sent, and acknowledged by the peer, since the session began. */
  #sentData = 0;
  #ackedData = 0;
  /** Data-frame bytes received and applied, and acknowledged to the peer. */
  #rxData = 0;
  #rxAcked = 0;
  /** The hop path last checked for the peer, and whether the peer is on it. */
  #checkedHops: string[] | null = null;
  #peerOnPath = false;

  // Receiving side.
  #limits: LinkLimits;
  #owners: OriginOwners;
  #data: DataReader;
  // The peer's point definitions by index, as parallel arrays (no object per point).
  #defIds: (string | undefined)[] = [];
  /** Indexes defined and not removed (bounded by --max-link-points). */
  #defCount = 0;
  /** Definitions in the current frame of points this hop does not hold yet. */
  #newInFrame = 0;
  /** Indexes whose origin another link owns: their states are not applied. */
  #refusedIdx = new Set<number>();
  /** Origins whose refusal has been logged in this session. */
  #refusedOrigins = new Set<string>();
  /** The origin checked last, and the link that kept it (`null`: this link may carry it). */
  #lastOrigin = "";
  #lastOwner: string | null = null;
  /** Values refused (received) and withheld (too large or long to send), for the log. */
  #badValues = 0;
  #withheld = 0;
  #deniedWrites = 0;
  #defTypes: DataType[] = [];
  #defHops: string[][] = [];
  /** One array per distinct hop path, shared by every point that travelled it. */
  #paths = new Map<string, string[]>();
  /** The decoder hands the same array for a run of one path: its shared array, remembered. */
  #lastHops: string[] | null = null;
  #lastShared: string[] = [];
  #keep: Set<string> | null = null;
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
  #visitor: DataVisitor = {
    definition: (index, id, type, hops) => {
      const peer = this.#o.peer;
      // A peer speaks only for points that passed through it and that name their origin hop
      // first: it cannot forge another hop's points or this hop's own.
      const origin = hops[0];
      if (hops.at(-1) !== peer || origin === undefined || origin !== originHop(id)) {
        throw new ProtocolError(`Point ${id} with path ${hops.join(">")} cannot come from ${peer}`);
      }
      if (index >= maxIndex) throw new ProtocolError(`Point index ${index} is out of range`);
      let shared: string[];
      if (hops === this.#lastHops) shared = this.#lastShared;
      else {
        // Checked before the lookup: hop names hold no NUL, so keys of valid paths never collide.
        const bad = hops.find((h) => !hopNamePattern.test(h));
        if (bad !== undefined) {
          throw new ProtocolError(
            `Point ${id} has a path through "${bad}", which is not a hop name`,
          );
        }
        const key = hops.join("\u0000");
        shared = this.#paths.get(key) ?? hops;
        if (shared === hops) this.#paths.set(key, hops);
        this.#lastHops = hops;
        this.#lastShared = shared;
      }
      const before = this.#defIds[index];
      if (before === undefined) {
        if (this.#defCount >= this.#limits.maxLinkPoints) {
          throw new RuleError(
            `${peer} defined more than --max-link-points (${this.#limits.maxLinkPoints}) points`,
          );
        }
      } else if (before !== id) {
        throw new ProtocolError(`Point index ${index} is redefined as another point (${id})`);
      }
      const owner = origin === this.#lastOrigin ? this.#lastOwner : this.#checkOrigin(origin);
      const store = this.#o.store;
      if (
        owner === null && before === undefined && store.get(id) === undefined &&
        store.size + ++this.#newInFrame > this.#limits.maxPoints
      ) {
        throw new RuleError(
          `${peer} would make this hop hold more than --max-points (${this.#limits.maxPoints}) points`,
        );
      }
      if (before === undefined) this.#defCount++;
      this.#defIds[index] = id;
      this.#defTypes[index] = type;
      this.#defHops[index] = shared;
      if (owner !== null) this.#refusedIdx.add(index);
      else if (this.#refusedIdx.size > 0) this.#refusedIdx.delete(index);
    },
    state: (index, value, status, time, cause) => {
      const id = this.#defIds[index];
      if (id === undefined) throw new ProtocolError(`Undefined point index ${index}`);
      if (this.#refusedIdx.size > 0 && this.#refusedIdx.has(index) && !this.#reclaim(index)) {
        return;
      }
      const u = this.#update;
      const type = this.#defTypes[index]!;
      const v = value === tooLarge ? unfit : fitValue(type, value);
      if (
        v === unfit || !isStatusCode(status) || !validTime(time) ||
        (cause !== null && !validTime(cause.since))
      ) {
        this.#refuseState(id, type, value, status, time, cause);
      } else {
        u.value = v;
        u.status = status;
        u.time = time;
        u.cause = cause;
      }
      const store = this.#o.store;
      // Definitions spread over several frames can each pass the check at definition time.
      if (store.size >= this.#limits.maxPoints && store.get(id) === undefined) {
        throw new RuleError(
          `${this.#o.peer} would make this hop hold more than --max-points (${this.#limits.maxPoints}) points`,
        );
      }
      u.id = id;
      u.type = type;
      u.hops = this.#defHops[index]!;
      store.apply(u, this.#origin);
      this.#keep?.add(id);
    },
    removal: (index) => {
      const id = this.#defIds[index];
      if (id === undefined) throw new ProtocolError(`Undefined point index ${index}`);
      this.#defIds[index] = undefined;
      this.#defCount--;
      if (this.#refusedIdx.size > 0) this.#refusedIdx.delete(index);
      this.#keep?.delete(id);
      const store = this.#o.store;
      if (store.get(id)?.origin === this.#origin) store.remove(id);
    },
  };

  /**
   * Whether this link may carry points of `origin`: refuses the link (a
   * {@link RuleError}) for an origin outside the peer's, and returns the link
   * that keeps an origin it owns (`null` when this link may carry it).
   */
  #checkOrigin(origin: string): string | null {
    const allowed = this.#o.origins;
    if (allowed !== undefined && !allowed.includes(origin)) {
      const peer = this.#o.peer;
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
      this.#o.log.warn(
        "Refused the points of {origin} from {peer}: {owner} brings {origin} and keeps it while it is up",
        { origin, peer: this.#o.peer, owner },
      );
    }
    return owner;
  }

  /** A refused index's origin may have been freed by its owner's link going down. */
  #reclaim(index: number): boolean {
    const origin = originHop(this.#defIds[index]!);
    if (this.#owners.claim(origin, this.#origin) !== null) return false;
    this.#refusedIdx.delete(index);
    this.#lastOrigin = "";
    this.#o.log.info("Points of {origin} now come from {peer}", { origin, peer: this.#o.peer });
    return true;
  }

  /**
   * A received state that cannot be valid: the point goes on as Bad, without
   * a value, with this hop and link as the cause; the link stays up.
   */
  #refuseState(
    id: string,
    type: DataType,
    value: Value | typeof tooLarge,
    status: number,
    time: number,
    cause: FailureCause | null,
  ): void {
    const now = this.#o.clock.now();
    const shown = (x: unknown) => String(x).slice(0, 64);
    const problem = value === tooLarge
      ? `a value larger than --max-value (${this.#limits.maxValue} bytes)`
      : fitValue(type, value) === unfit
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
      hop: this.#o.hop,
      via: this.#origin,
      since: now,
      reason: `${this.#o.peer} sent ${problem}`,
    };
    if (worthLogging(++this.#badValues)) {
      this.#o.log.warn(
        "Refused a value of {id} from {peer}: {problem}; the point is Bad ({n} refused so far)",
        { id, peer: this.#o.peer, problem, n: this.#badValues },
      );
    }
  }

  // Writes this hop sent upstream, awaiting results.
  #nextRid = 1;
  #pending = new Map<number, { resolve: (s: StatusCode) => void; timer: TimerId }>();

  constructor(wire: Wire, options: LinkOptions) {
    this.#o = options;
    this.#wire = wire;
    this.#direction = options.direction ?? null;
    this.#reader = new FrameReader(options.maxFrame);
    this.#limits = options.limits ?? defaultLimits;
    this.#owners = options.owners ?? new OriginOwners();
    this.#data = new DataReader(this.#limits);
    this.#origin = linkOrigin(options.peer);
    this.#lastRx = options.clock.now();
    this.#startedAt = this.#lastRx;
  }

  get #window(): number {
    const byDefault = this.#snapshotLeft > 0 ? snapshotWindow : defaultWindow;
    return Math.max(4 * ackEvery, this.#o.window ?? byDefault);
  }

  get state(): LinkState {
    return this.#state;
  }

  get peer(): string {
    return this.#o.peer;
  }

  /** Why the session ended ("" while it lives). */
  get closeReason(): string {
    return this.#closeReason;
  }

  /** True when this side sends its data set over the link. */
  get sends(): boolean {
    const d = this.#direction;
    return d !== null && (d === "push") === (this.#o.role === "dialer");
  }

  /** True when this side receives the peer's data set. */
  get receives(): boolean {
    return this.#direction !== null && !this.sends;
  }

  /** Point updates waiting to be sent (each point at most once). */
  get pendingPoints(): number {
    return this.#queue.length - this.#head;
  }

  /** Begins the session: the dialer says hello at once, the listener waits for it. */
  start(): void {
    this.#armSilence();
    if (this.#o.role === "dialer") this.#sendHello();
  }

  /** Feeds bytes received from the peer. */
  receive(chunk: Uint8Array): void {
    if (this.#state === "closed") return;
    try {
      const frames = this.#reader.push(chunk);
      // Only whole frames prove the peer alive: trickled bytes of one never finished do not.
      if (frames.length > 0) this.#lastRx = this.#o.clock.now();
      for (const [type, body] of frames) {
        this.#handle(decodeFrame(type, body));
        // A frame can end the session (close, protocol error).
        if ((this.#state as LinkState) === "closed") return;
        if (type === FrameType.Data) this.#rxData += headerSize + body.length;
      }
      if (this.#rxData - this.#rxAcked >= ackEvery) {
        this.#rxAcked = this.#rxData;
        this.#wire.write(simpleFrame(FrameType.Ack, this.#rxData));
      }
    } catch (e) {
      this.close(
        e instanceof RuleError
          ? `refused: ${e.message}`
          : `protocol error: ${
            e instanceof ProtocolError ? e.message : `internal error: ${(e as Error).message}`
          }`,
      );
    }
  }

  /** The wire can take more bytes again. */
  drained(): void {
    this.#writable = true;
    this.#flush();
  }

  /** The wire ended under us (reset, end of stream, error). */
  ended(reason: string): void {
    this.#teardown(reason);
  }

  /** Closes the session, telling the peer why. */
  close(reason: string): void {
    if (this.#state === "closed") return;
    this.#wire.write(simpleFrame(FrameType.Close, reason));
    this.#wire.close();
    this.#teardown(reason);
  }

  /** Sends a write request to the peer (toward the point's origin) and awaits its result. */
  requestWrite(request: WriteRequest, type: DataType): Promise<StatusCode> {
    if (this.#state !== "open" || !this.receives) return Promise.resolve(Status.BadNotConnected);
    const rid = this.#nextRid++;
    return new Promise<StatusCode>((resolve) => {
      const timer = this.#o.clock.setTimeout(() => {
        this.#pending.delete(rid);
        resolve(Status.BadTimeout);
      }, this.#o.writeTimeout);
      this.#pending.set(rid, { resolve, timer });
      this.#wire.write(
        writeFrame({ rid, id: request.id, type, value: request.value, via: request.via }),
      );
    });
  }

  #sendHello(): void {
    const hello: Hello = {
      version: protocolVersion,
      hop: this.#o.hop,
      to: this.#o.peer,
      direction: this.#direction ?? "push",
    };
    this.#wire.write(helloFrame(hello));
  }

  /**
   * Arms the timer that ends a silent link. Before hello the deadline counts
   * from the start, not from the last byte, so a peer trickling its hello a
   * byte at a time cannot hold a slot.
   */
  #armSilence(): void {
    const since = () => this.#state === "hello" ? this.#startedAt : this.#lastRx;
    const due = since() + this.#o.timeout - this.#o.clock.now();
    this.#silenceTimer = this.#o.clock.setTimeout(() => {
      if (this.#state === "closed") return;
      if (this.#o.clock.now() - since() >= this.#o.timeout) {
        this.close(
          this.#state === "hello"
            ? `no hello within ${this.#o.timeout} ms`
            : `heartbeat timeout: silent for ${this.#o.timeout} ms`,
        );
      } else this.#armSilence();
    }, Math.max(1, due));
  }

  #ping(): void {
    if (this.#state !== "open") return;
    this.#wire.write(simpleFrame(FrameType.Ping, this.#o.clock.now()));
    this.#pingTimer = this.#o.clock.setTimeout(() => this.#ping(), this.#o.heartbeat);
  }

  #handle(f: Frame): void {
    if (f.type === FrameType.Close) {
      this.#wire.close();
      this.#teardown(`closed by ${this.#o.peer}: ${f.reason}`);
      return;
    }
    if (this.#state === "hello") {
      if (f.type !== FrameType.Hello) throw new ProtocolError("Expected hello first");
      return this.#onHello(f.hello);
    }
    switch (f.type) {
      case FrameType.Hello:
        throw new ProtocolError("Second hello");
      case FrameType.Ping:
        this.#wire.write(simpleFrame(FrameType.Pong, f.t));
        return;
      case FrameType.Pong:
        this.#o.onRtt?.(Math.max(0, this.#o.clock.now() - f.t));
        return;
      case FrameType.Ack:
        if (!this.sends || f.bytes > this.#sentData || f.bytes < this.#ackedData) {
          throw new ProtocolError(`Acknowledgement of ${f.bytes} bytes does not fit what was sent`);
        }
        this.#ackedData = f.bytes;
        this.#flush();
        return;
      case FrameType.SnapshotBegin:
        if (!this.receives) throw new ProtocolError("Snapshot sent against the link's direction");
        this.#keep = new Set();
        return;
      case FrameType.Data:
        if (!this.receives) throw new ProtocolError("Data sent against the link's direction");
        return this.#onData(f.body);
      case FrameType.SnapshotEnd: {
        const keep = this.#keep;
        if (!keep) throw new ProtocolError("Snapshot end without begin");
        this.#keep = null;
        // The peer speaks for its own points: those it no longer has are gone. Points it
        // relays may be missing only because its own link toward their origin is down (a
        // relay that has just restarted): those read as failed until their origin is back.
        const peer = this.#o.peer;
        const store = this.#o.store;
        const missing = (p: StoredPoint) => !keep.has(p.id);
        const stale = store.failOrigin(this.#origin, {
          hop: this.#o.hop,
          via: this.#origin,
          since: this.#o.clock.now(),
          reason: `${peer} has no data from their origin hop`,
        }, (p) => missing(p) && originHop(p.id) !== peer);
        const gone = store.removeFromOrigin(
          this.#origin,
          new Set(
            [...store.fromOrigin(this.#origin)].filter((p) =>
              originHop(p.id) !== peer || !missing(p)
            ).map((p) => p.id),
          ),
        );
        this.#o.log.info(
          "Snapshot from {peer}: {points} points, {gone} removed meanwhile, {stale} without data",
          { peer, points: keep.size, gone, stale },
        );
        return;
      }
      case FrameType.Write:
        void this.#onWriteRequest(f.write.rid, {
          id: f.write.id,
          value: f.write.value,
          via: f.write.via,
        });
        return;
      case FrameType.WriteResult: {
        const p = this.#pending.get(f.rid);
        if (!p) return; // Timed out meanwhile.
        this.#pending.delete(f.rid);
        this.#o.clock.clearTimeout(p.timer);
        p.resolve(f.status);
        return;
      }
    }
  }

  #onHello(h: Hello): void {
    const o = this.#o;
    if (h.version !== protocolVersion) {
      throw new ProtocolError(
        `Protocol version ${h.version} is not supported (this hop speaks ${protocolVersion})`,
      );
    }
    if (h.hop !== o.peer) {
      throw new ProtocolError(`Hello names hop "${h.hop}" but the certificate names "${o.peer}"`);
    }
    if (h.to !== o.hop) throw new ProtocolError(`Hello is meant for hop "${h.to}", not "${o.hop}"`);
    if (o.role === "dialer" && h.direction !== this.#direction) {
      throw new ProtocolError(`Listener answered direction ${h.direction}`);
    }
    const role = o.peerRole;
    if (
      o.role === "listener" && role !== undefined &&
      h.direction !== (role === "push" ? "push" : "pull")
    ) {
      const may = role === "push"
        ? "push its data"
        : role === "pull"
        ? "pull"
        : "watch (pull without writes)";
      const why = o.bareRole
        ? "a bare name in --peers means watch"
        : `its role in --peers is ${role}`;
      throw new RuleError(
        `${o.peer} may only ${may}, not ${h.direction} (${why}; write ${o.peer}:${h.direction} to let it ${h.direction})`,
      );
    }
    this.#direction = h.direction;
    this.#state = "open";
    if (this.receives) this.#owners.up(this.#origin);
    if (o.role === "listener") this.#sendHello();
    o.log.info("Link with {peer} open ({direction}, {role}, this hop {sends})", {
      peer: o.peer,
      direction: this.#direction,
      role: o.role,
      sends: this.sends ? "sends" : "receives",
    });
    this.#pingTimer = o.clock.setTimeout(() => this.#ping(), 0);
    o.onOpen?.();
    if (this.sends) this.#startSending();
  }

  #onData(body: Uint8Array): void {
    this.#newInFrame = 0;
    this.#data.read(body, this.#visitor);
    this.#o.store.endBatch();
  }

  async #onWriteRequest(rid: number, request: WriteRequest): Promise<void> {
    let status: StatusCode;
    if (!this.sends) status = Status.BadNotWritable;
    else if (this.#o.peerRole === "watch") {
      status = Status.BadUserAccessDenied;
      if (worthLogging(++this.#deniedWrites)) {
        this.#o.log.warn(
          "Write to {id} from {peer} refused: {peer} is a watcher and may not write ({n} refused so far)",
          { id: request.id.slice(0, 256), peer: this.#o.peer, n: this.#deniedWrites },
        );
      }
    } else {
      try {
        status = await this.#o.onWrite(request);
      } catch {
        status = Status.BadInternalError;
      }
    }
    if (this.#state === "open") this.#wire.write(writeResultFrame(rid, status));
  }

  // ---- sending side ----

  #startSending(): void {
    const store = this.#o.store;
    this.#wire.write(simpleFrame(FrameType.SnapshotBegin));
    for (const p of store.values()) this.#mark(p);
    this.#snapshotLeft = this.pendingPoints;
    this.#snapshotFrom = this.#o.clock.now();
    this.#unsubscribe = store.subscribe({
      onUpdate: (p) => this.#onStoreChange(p),
      onRemove: (p) => this.#onStoreChange(p),
      // A link's data frame is applied: forward it now, not after the rest of the socket's read.
      onBatchEnd: () => {
        if (this.#flushScheduled) this.#flush();
      },
    }, { name: `link:${this.#o.peer}` });
    this.#flush();
  }

  #onStoreChange(p: StoredPoint): void {
    // Points that came over this very link are never sent back; skip them cheaply unless
    // the peer holds an older copy that must be withdrawn.
    if (p.origin === this.#origin && this.#points[pointSlot(p)] === undefined) return;
    this.#mark(p);
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
    if (this.#points[idx] === undefined) {
      this.#points[idx] = p;
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
    if (this.#dirty[idx] === 0) {
      this.#dirty[idx] = 1;
      this.#queue.push(idx);
    }
  }

  /** Sends the current state of dirty points while the wire takes them. */
  #flush(): void {
    if (this.#state !== "open" || !this.#writable) return;
    const peer = this.#o.peer;
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
        let send = exists && p.origin !== this.#origin && !this.#peerOn(p.hops, peer);
        if (send && (this.#sentType[idx] !== p.type || !sameHops(this.#sentHops[idx], p.hops))) {
          send = this.#fitsPeer(p);
          if (send) {
            w.definition(idx, p.id, p.type, p.hops);
            this.#sentType[idx] = p.type;
            this.#sentHops[idx] = p.hops;
          }
        }
        if (send) {
          if (exceedsSize(p.value, this.#limits.maxValue)) this.#withholdValue(w, idx, p);
          else w.state(idx, p.value, p.status, p.time, p.cause);
          this.#live[idx] = 1;
        } else if (this.#live[idx] === 1) {
          w.removal(idx);
          this.#live[idx] = 0;
        }
        if (!exists) {
          // Removed from the store: its slot never comes back, so forget it.
          this.#points[idx] = undefined;
          this.#sentType[idx] = undefined;
          this.#sentHops[idx] = undefined;
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
        this.#o.log.info("Snapshot of {points} points written to {peer} in {ms} ms", {
          points: this.#known,
          peer,
          ms: Math.round(this.#o.clock.now() - this.#snapshotFrom),
        });
      }
      if (this.#state !== "open") return;
      if (!ok && this.#wire.buffered() >= (this.#o.sendBuffer ?? defaultSendBuffer)) {
        this.#writable = false;
        return;
      }
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
      this.#o.log.warn(
        "Not sending {id} to {peer}: its {what} ({n} points withheld so far)",
        {
          id: p.id.slice(0, 256),
          peer: this.#o.peer,
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
    const now = this.#o.clock.now();
    w.state(idx, null, Status.BadEncodingLimitsExceeded, p.time, {
      hop: this.#o.hop,
      via: this.#origin,
      since: now,
      reason: `its value exceeds --max-value (${this.#limits.maxValue} bytes)`,
    });
    if (worthLogging(++this.#withheld)) {
      this.#o.log.warn(
        "Sending {id} to {peer} as Bad: its value exceeds --max-value ({max} bytes) ({n} points withheld so far)",
        { id: p.id, peer: this.#o.peer, max: this.#limits.maxValue, n: this.#withheld },
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

  #teardown(reason: string): void {
    if (this.#state === "closed") return;
    const wasOpen = this.#state === "open";
    const received = this.receives;
    this.#state = "closed";
    this.#closeReason = reason;
    if (wasOpen && received) this.#owners.down(this.#origin);
    const clock = this.#o.clock;
    clock.clearTimeout(this.#silenceTimer);
    clock.clearTimeout(this.#pingTimer);
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    this.#queue = [];
    this.#head = 0;
    for (const [, p] of this.#pending) {
      clock.clearTimeout(p.timer);
      p.resolve(Status.BadNotConnected);
    }
    this.#pending.clear();
    if (wasOpen && received) {
      const n = this.#o.store.failOrigin(this.#origin, {
        hop: this.#o.hop,
        via: this.#origin,
        since: clock.now(),
        reason,
      });
      this.#o.log.warn("Link with {peer} lost ({reason}); {n} points marked", {
        peer: this.#o.peer,
        reason,
        n,
      });
    } else {
      const refused = reason.startsWith("refused:") || reason.startsWith("protocol error:");
      this.#o.log[refused ? "warn" : "info"]("Link with {peer} ended: {reason}", {
        peer: this.#o.peer,
        reason,
      });
    }
    this.#o.onClose?.(reason);
  }
}
