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
  type Logger,
  originHop,
  type PointStore,
  Status,
  type StatusCode,
  type StoredPoint,
  type TimerId,
  type WriteRequest,
} from "../core/mod.ts";
import {
  causeOf,
  decodeFrame,
  definitionAt,
  type Direction,
  type Frame,
  FrameReader,
  FrameType,
  type Hello,
  helloFrame,
  type PointDefinition,
  ProtocolError,
  protocolVersion,
  pushDefinition,
  pushState,
  type RawBatch,
  rawDataFrame,
  simpleFrame,
  typedValue,
  writeFrame,
  writeResultFrame,
} from "./frame_codec.ts";

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

/** Upper bound of one data frame's estimated size, so batches stay well under --max-frame. */
const batchBytes = 256 * 1024;
/** Most point entries in one data frame. */
const batchPoints = 4096;
/**
 * Default bytes a link may leave queued in its socket before it waits for a
 * drain. Above Node's 16 KiB high-water mark on purpose: a busy hop gets round
 * its event loop seldom, and one frame per round would starve the link.
 */
const defaultSendBuffer = 4 * 1024 * 1024;

/** A rough encoded size of a value, to cut batches before they grow large. */
function sizeOf(v: unknown): number {
  if (typeof v === "string") return 8 + v.length * 3;
  if (v instanceof Uint8Array) return 8 + v.length;
  if (Array.isArray(v)) {
    let n = 8;
    for (const x of v) n += sizeOf(x);
    return n;
  }
  return 10;
}

function isStatusCode(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
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
  #index = new Map<string, number>();
  #ids: string[] = [];
  #sentType: (DataType | undefined)[] = [];
  #sentHops: (string[] | undefined)[] = [];
  #live = new Uint8Array(1024);
  #dirty = new Uint8Array(1024);
  #queue: number[] = [];
  #head = 0;
  #writable = true;
  #flushScheduled = false;
  #snapshotLeft = -1;
  #unsubscribe: (() => void) | null = null;

  // Receiving side.
  #defs = new Map<number, PointDefinition>();
  #keep: Set<string> | null = null;

  // Writes this hop sent upstream, awaiting results.
  #nextRid = 1;
  #pending = new Map<number, { resolve: (s: StatusCode) => void; timer: TimerId }>();

  constructor(wire: Wire, options: LinkOptions) {
    this.#o = options;
    this.#wire = wire;
    this.#direction = options.direction ?? null;
    this.#reader = new FrameReader(options.maxFrame);
    this.#origin = linkOrigin(options.peer);
    this.#lastRx = options.clock.now();
    this.#startedAt = this.#lastRx;
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
    this.#lastRx = this.#o.clock.now();
    try {
      for (const [type, body] of this.#reader.push(chunk)) {
        this.#handle(decodeFrame(type, body));
        // A frame can end the session (close, protocol error).
        if ((this.#state as LinkState) === "closed") return;
      }
    } catch (e) {
      const reason = e instanceof ProtocolError
        ? e.message
        : `internal error: ${(e as Error).message}`;
      this.close(`protocol error: ${reason}`);
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
      case FrameType.SnapshotBegin:
        if (!this.receives) throw new ProtocolError("Snapshot sent against the link's direction");
        this.#keep = new Set();
        return;
      case FrameType.Data:
        if (!this.receives) throw new ProtocolError("Data sent against the link's direction");
        return this.#onData(f.batch);
      case FrameType.SnapshotEnd: {
        const keep = this.#keep;
        if (!keep) throw new ProtocolError("Snapshot end without begin");
        this.#keep = null;
        const gone = this.#o.store.removeFromOrigin(this.#origin, keep);
        this.#o.log.info("Snapshot from {peer}: {points} points, {gone} removed meanwhile", {
          peer: this.#o.peer,
          points: keep.size,
          gone,
        });
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
    this.#direction = h.direction;
    this.#state = "open";
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

  #onData(b: { defs: unknown[]; states: unknown[]; removed: unknown[] }): void {
    const { defs, states, removed } = b;
    if (defs.length % 4 !== 0 || states.length % 5 !== 0) {
      throw new ProtocolError("Malformed data batch");
    }
    for (let i = 0; i < defs.length; i += 4) {
      const d = definitionAt(defs, i);
      // A peer speaks only for points that passed through it and that name their origin hop
      // first: it cannot forge another hop's points or this hop's own.
      if (d.hops.at(-1) !== this.#o.peer || d.hops[0] !== originHop(d.id)) {
        throw new ProtocolError(
          `Point ${d.id} with path ${d.hops.join(">")} cannot come from ${this.#o.peer}`,
        );
      }
      this.#defs.set(d.index, d);
    }
    const store = this.#o.store;
    const keep = this.#keep;
    for (let i = 0; i < states.length; i += 5) {
      const d = this.#defs.get(states[i] as number);
      if (d === undefined) throw new ProtocolError(`Undefined point index ${states[i]}`);
      const status = states[i + 2], time = states[i + 3];
      if (!isStatusCode(status) || typeof time !== "number") {
        throw new ProtocolError(`Malformed state of ${d.id}`);
      }
      store.apply({
        id: d.id,
        value: typedValue(d.type, states[i + 1]),
        type: d.type,
        status,
        time,
        hops: d.hops,
        cause: causeOf(states[i + 4]),
      }, this.#origin);
      keep?.add(d.id);
    }
    for (const idx of removed) {
      const d = this.#defs.get(idx as number);
      if (d === undefined) throw new ProtocolError(`Undefined point index ${idx}`);
      keep?.delete(d.id);
      if (store.get(d.id)?.origin === this.#origin) store.remove(d.id);
    }
  }

  async #onWriteRequest(rid: number, request: WriteRequest): Promise<void> {
    let status: StatusCode;
    if (!this.sends) status = Status.BadNotWritable;
    else {
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
    for (const p of store.values()) this.#mark(p.id);
    this.#snapshotLeft = this.pendingPoints;
    this.#unsubscribe = store.subscribe({
      onUpdate: (p) => this.#onStoreChange(p),
      onRemove: (p) => this.#onStoreChange(p),
    });
    this.#flush();
  }

  #onStoreChange(p: StoredPoint): void {
    // Points that came over this very link are never sent back; skip them cheaply unless
    // the peer holds an older copy that must be withdrawn.
    if (p.origin === this.#origin && !this.#index.has(p.id)) return;
    this.#mark(p.id);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
  }

  #mark(id: string): void {
    let idx = this.#index.get(id);
    if (idx === undefined) {
      idx = this.#ids.length;
      this.#ids.push(id);
      this.#index.set(id, idx);
      if (idx >= this.#dirty.length) {
        const grow = (a: Uint8Array) => {
          const b = new Uint8Array(a.length * 2);
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
    const store = this.#o.store;
    const peer = this.#o.peer;
    while (this.#head < this.#queue.length || this.#snapshotLeft === 0) {
      const batch: RawBatch = { defs: [], states: [], removed: [] };
      let bytes = 0;
      let entries = 0;
      while (
        this.#head < this.#queue.length && entries < batchPoints && bytes < batchBytes &&
        this.#snapshotLeft !== 0
      ) {
        const idx = this.#queue[this.#head++]!;
        entries++;
        if (this.#snapshotLeft > 0) this.#snapshotLeft--;
        this.#dirty[idx] = 0;
        const p = store.get(this.#ids[idx]!);
        if (p !== undefined && p.origin !== this.#origin && !p.hops.includes(peer)) {
          if (this.#sentType[idx] !== p.type || !sameHops(this.#sentHops[idx], p.hops)) {
            pushDefinition(batch, idx, p.id, p.type, p.hops);
            this.#sentType[idx] = p.type;
            this.#sentHops[idx] = p.hops;
            bytes += p.id.length + 40;
          }
          pushState(batch, idx, p.value, p.status, p.time, p.cause);
          const v = p.value;
          bytes += typeof v === "number" || typeof v === "boolean" ? 24 : 16 + sizeOf(v);
          if (p.cause !== null) bytes += 60;
          this.#live[idx] = 1;
        } else if (this.#live[idx] === 1) {
          batch.removed.push(idx);
          this.#live[idx] = 0;
          bytes += 5;
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
      if (batch.states.length + batch.removed.length + batch.defs.length > 0) {
        ok = this.#wire.write(rawDataFrame(batch));
      }
      if (this.#snapshotLeft === 0) {
        this.#snapshotLeft = -1;
        ok = this.#wire.write(simpleFrame(FrameType.SnapshotEnd, this.#index.size)) && ok;
      }
      if (this.#state !== "open") return;
      if (!ok && this.#wire.buffered() >= (this.#o.sendBuffer ?? defaultSendBuffer)) {
        this.#writable = false;
        return;
      }
    }
  }

  #teardown(reason: string): void {
    if (this.#state === "closed") return;
    const wasOpen = this.#state === "open";
    const received = this.receives;
    this.#state = "closed";
    this.#closeReason = reason;
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
      this.#o.log.info("Link with {peer} ended: {reason}", { peer: this.#o.peer, reason });
    }
    this.#o.onClose?.(reason);
  }
}
