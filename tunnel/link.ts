/**
 * One link session: the protocol state machine over an established, already
 * authenticated byte stream. Hello → snapshot → deltas, heartbeats both ways,
 * writes upstream, and failure of every point received over the link when it
 * dies. The data itself is the sending side's (link_sender.ts) or the
 * receiving side's (link_receiver.ts). Sockets stay outside (see {@link Wire})
 * so the machine can be driven by tests with a manual clock.
 */
import {
  type Clock,
  type DataType,
  type Logger,
  type PointStore,
  Status,
  type StatusCode,
  type TimerId,
  worthLogging,
  type WriteRequest,
} from "../core/mod.ts";
import {
  decodeFrame,
  type Direction,
  type Frame,
  type Hello,
  helloFrame,
  simpleFrame,
  writeFrame,
  writeResultFrame,
} from "./control_frames.ts";
import { FrameReader, FrameType, ProtocolError, protocolVersion, RuleError } from "./frames.ts";
import { defaultLimits, type LinkLimits } from "./link_limits.ts";
import { LinkReceiver } from "./link_receiver.ts";
import { LinkSender } from "./link_sender.ts";
import type { PeerRole } from "./options.ts";
import { OriginOwners } from "./origin_owners.ts";
import type { Wire } from "./wire.ts";
import { LinkCounters } from "./link_counters.ts";

export { defaultLimits, type LinkLimits } from "./link_limits.ts";
export type { Wire } from "./wire.ts";

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
  /** Called when a snapshot from the peer is complete (the first, and any later one). */
  onSnapshot?(): void;
  /** Counts frames received and points each way (default: counters of this session alone). */
  counters?: LinkCounters;
}

/** The origin name of points received over a link with `peer`. */
export function linkOrigin(peer: string): string {
  return `link:${peer}`;
}

/** A write this hop sent toward the peer, awaiting its result. */
interface PendingWrite {
  resolve: (s: StatusCode) => void;
  timer: TimerId;
}

/** One session of a link between two hops. */
export class Link {
  #wire: Wire;
  #hop: string;
  #peer: string;
  #role: LinkRole;
  #peerRole: PeerRole | undefined;
  #bareRole: boolean;
  #clock: Clock;
  #log: Logger;
  #heartbeat: number;
  #timeout: number;
  #writeTimeout: number;
  #onWrite: (request: WriteRequest) => Promise<StatusCode>;
  #onOpen: (() => void) | undefined;
  #onClose: ((reason: string) => void) | undefined;
  #onRtt: ((ms: number) => void) | undefined;
  #onSnapshot: (() => void) | undefined;

  #state: LinkState = "hello";
  #direction: Direction | null;
  #reader: FrameReader;
  /** The origin of the points received over this link. */
  #origin: string;
  #lastRx: number;
  #startedAt: number;
  #silenceTimer: TimerId = 0;
  #pingTimer: TimerId = 0;
  #closeReason = "";
  #sender: LinkSender;
  #receiver: LinkReceiver;
  #counters: LinkCounters;

  // Writes this hop sent upstream, awaiting results, and those refused to a watcher.
  #nextRid = 1;
  #pending = new Map<number, PendingWrite>();
  #deniedWrites = 0;

  /** A session over `wire`, not yet started: {@link start} sends the hello. */
  constructor(wire: Wire, options: LinkOptions) {
    this.#wire = wire;
    this.#hop = options.hop;
    this.#peer = options.peer;
    this.#role = options.role;
    this.#peerRole = options.peerRole;
    this.#bareRole = options.bareRole ?? false;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#heartbeat = options.heartbeat;
    this.#timeout = options.timeout;
    this.#writeTimeout = options.writeTimeout;
    this.#onWrite = options.onWrite;
    this.#onOpen = options.onOpen;
    this.#onClose = options.onClose;
    this.#onRtt = options.onRtt;
    this.#onSnapshot = options.onSnapshot;
    this.#direction = options.direction ?? null;
    this.#reader = new FrameReader(options.maxFrame);
    this.#origin = linkOrigin(options.peer);
    this.#lastRx = options.clock.now();
    this.#startedAt = this.#lastRx;
    const limits = options.limits ?? defaultLimits;
    this.#counters = options.counters ?? new LinkCounters();
    const owners = options.owners ?? new OriginOwners();
    const side = {
      store: options.store,
      clock: options.clock,
      log: options.log,
      hop: options.hop,
      peer: options.peer,
      origin: this.#origin,
      limits,
      counters: this.#counters,
    };
    this.#sender = new LinkSender({
      ...side,
      wire,
      window: options.window,
      sendBuffer: options.sendBuffer,
      owners,
    });
    this.#receiver = new LinkReceiver({
      ...side,
      owners,
      allowedOrigins: options.origins,
    });
  }

  /** Where the session is: exchanging hellos, open, or closed. */
  get state(): LinkState {
    return this.#state;
  }

  /** The peer's hop name, as its certificate names it. */
  get peer(): string {
    return this.#peer;
  }

  /** Why the session ended ("" while it lives). */
  get closeReason(): string {
    return this.#closeReason;
  }

  /** True when this side sends its data set over the link. */
  get sends(): boolean {
    const d = this.#direction;
    return d !== null && (d === "push") === (this.#role === "dialer");
  }

  /** True when this side receives the peer's data set. */
  get receives(): boolean {
    return this.#direction !== null && !this.sends;
  }

  /** Point updates waiting to be sent (each point at most once). */
  get pendingPoints(): number {
    return this.#sender.pendingPoints;
  }

  /** Begins the session: the dialer says hello at once, the listener waits for it. */
  start(): void {
    this.#armSilence();
    if (this.#role === "dialer") this.#sendHello();
  }

  /** Feeds bytes received from the peer. */
  receive(chunk: Uint8Array): void {
    if (this.#state === "closed") return;
    try {
      const frames = this.#reader.push(chunk);
      // Only whole frames prove the peer alive: trickled bytes of one never finished do not.
      if (frames.length > 0) {
        this.#lastRx = this.#clock.now();
        this.#counters.framesReceived += frames.length;
      }
      for (const [type, body] of frames) {
        this.#handle(decodeFrame(type, body));
        // A frame can end the session (close, protocol error).
        if ((this.#state as LinkState) === "closed") return;
      }
      const applied = this.#receiver.acknowledgement();
      if (applied >= 0) this.#wire.write(simpleFrame(FrameType.Ack, applied));
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
    this.#sender.drained();
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
      const timer = this.#clock.setTimeout(() => {
        this.#pending.delete(rid);
        resolve(Status.BadTimeout);
      }, this.#writeTimeout);
      this.#pending.set(rid, { resolve, timer });
      this.#wire.write(
        writeFrame({ rid, id: request.id, type, value: request.value, via: request.via }),
      );
    });
  }

  #sendHello(): void {
    const hello: Hello = {
      version: protocolVersion,
      hop: this.#hop,
      to: this.#peer,
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
    const due = since() + this.#timeout - this.#clock.now();
    this.#silenceTimer = this.#clock.setTimeout(() => {
      if (this.#state === "closed") return;
      if (this.#clock.now() - since() >= this.#timeout) {
        this.close(
          this.#state === "hello"
            ? `no hello within ${this.#timeout} ms`
            : `heartbeat timeout: silent for ${this.#timeout} ms`,
        );
      } else this.#armSilence();
    }, Math.max(1, due));
  }

  #ping(): void {
    if (this.#state !== "open") return;
    this.#wire.write(simpleFrame(FrameType.Ping, this.#clock.now()));
    this.#pingTimer = this.#clock.setTimeout(() => this.#ping(), this.#heartbeat);
  }

  #handle(f: Frame): void {
    if (f.type === FrameType.Close) {
      this.#wire.close();
      this.#teardown(`closed by ${this.#peer}: ${f.reason}`);
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
        this.#onRtt?.(Math.max(0, this.#clock.now() - f.t));
        return;
      case FrameType.Ack:
        if (!this.sends || !this.#sender.acknowledged(f.bytes)) {
          throw new ProtocolError(`Acknowledgement of ${f.bytes} bytes does not fit what was sent`);
        }
        return;
      case FrameType.SnapshotBegin:
        if (!this.receives) throw new ProtocolError("Snapshot sent against the link's direction");
        this.#receiver.snapshotBegin();
        return;
      case FrameType.Data:
        if (!this.receives) throw new ProtocolError("Data sent against the link's direction");
        return this.#receiver.data(f.body);
      case FrameType.SnapshotEnd:
        this.#receiver.snapshotEnd();
        this.#onSnapshot?.();
        return;
      case FrameType.OriginComplete:
        if (!this.receives) {
          throw new ProtocolError("Origin complete sent against the link's direction");
        }
        this.#receiver.originComplete(f.origin);
        return;
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
        this.#clock.clearTimeout(p.timer);
        p.resolve(f.status);
        return;
      }
    }
  }

  #onHello(h: Hello): void {
    if (h.version !== protocolVersion) {
      throw new ProtocolError(
        `Protocol version ${h.version} is not supported (this hop speaks ${protocolVersion})`,
      );
    }
    const peer = this.#peer;
    if (h.hop !== peer) {
      throw new ProtocolError(`Hello names hop "${h.hop}" but the certificate names "${peer}"`);
    }
    if (h.to !== this.#hop) {
      throw new ProtocolError(`Hello is meant for hop "${h.to}", not "${this.#hop}"`);
    }
    if (this.#role === "dialer" && h.direction !== this.#direction) {
      throw new ProtocolError(`Listener answered direction ${h.direction}`);
    }
    const role = this.#peerRole;
    if (
      this.#role === "listener" && role !== undefined &&
      h.direction !== (role === "push" ? "push" : "pull")
    ) {
      const may = role === "push"
        ? "push its data"
        : role === "pull"
        ? "pull"
        : "watch (pull without writes)";
      const why = this.#bareRole
        ? "a bare name in --peers means watch"
        : `its role in --peers is ${role}`;
      throw new RuleError(
        `${peer} may only ${may}, not ${h.direction} (${why}; write ${peer}:${h.direction} to let it ${h.direction})`,
      );
    }
    this.#direction = h.direction;
    this.#state = "open";
    if (this.receives) this.#receiver.opened();
    if (this.#role === "listener") this.#sendHello();
    this.#log.info("Link with {peer} open ({direction}, {role}, this hop {sends})", {
      peer,
      direction: this.#direction,
      role: this.#role,
      sends: this.sends ? "sends" : "receives",
    });
    this.#pingTimer = this.#clock.setTimeout(() => this.#ping(), 0);
    this.#onOpen?.();
    if (this.sends) this.#sender.start();
  }

  async #onWriteRequest(rid: number, request: WriteRequest): Promise<void> {
    let status: StatusCode;
    if (!this.sends) status = Status.BadNotWritable;
    else if (this.#peerRole === "watch") {
      status = Status.BadUserAccessDenied;
      if (worthLogging(++this.#deniedWrites)) {
        this.#log.warn(
          "Write to {id} from {peer} refused: {peer} is a watcher and may not write ({n} refused so far)",
          { id: request.id.slice(0, 256), peer: this.#peer, n: this.#deniedWrites },
        );
      }
    } else {
      try {
        status = await this.#onWrite(request);
      } catch {
        status = Status.BadInternalError;
      }
    }
    if (this.#state === "open") this.#wire.write(writeResultFrame(rid, status));
  }

  #teardown(reason: string): void {
    if (this.#state === "closed") return;
    const wasOpen = this.#state === "open";
    const received = this.receives;
    this.#state = "closed";
    this.#closeReason = reason;
    const clock = this.#clock;
    clock.clearTimeout(this.#silenceTimer);
    clock.clearTimeout(this.#pingTimer);
    this.#sender.stop();
    for (const [, p] of this.#pending) {
      clock.clearTimeout(p.timer);
      p.resolve(Status.BadNotConnected);
    }
    this.#pending.clear();
    if (wasOpen && received) {
      const n = this.#receiver.lost(reason);
      this.#log.warn("Link with {peer} lost ({reason}); {n} points marked", {
        peer: this.#peer,
        reason,
        n,
      });
    } else {
      const refused = reason.startsWith("refused:") || reason.startsWith("protocol error:");
      this.#log[refused ? "warn" : "info"]("Link with {peer} ended: {reason}", {
        peer: this.#peer,
        reason,
      });
    }
    this.#onClose?.(reason);
  }
}
