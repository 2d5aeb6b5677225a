/**
 * The adapter behind one peer (`link:<peer>`): the origin of every point
 * received from that peer, the route of writes toward it, and the owner of
 * the peer's link health points. It either dials the peer (--push/--pull,
 * reconnecting with backoff over the peer's addresses in turn) or takes the
 * connections the listener accepted from it.
 */
import type * as tls from "node:tls";
import {
  type Adapter,
  type AdapterStatus,
  Backoff,
  type CertWatch,
  type HopContext,
  type HostPort,
  Status,
  type StatusCode,
  systemClock,
  type TimerId,
  type WriteRequest,
} from "../core/mod.ts";
import { notStarted } from "../core/adapter.ts";
import type { PeerSpec } from "./options.ts";
import type { Direction } from "./control_frames.ts";
import { Link, type LinkLimits, linkOrigin, type LinkRole } from "./link.ts";
import { OriginOwners } from "./origin_owners.ts";
import { LinkPoints } from "./link_points.ts";
import {
  currentMaterial,
  describePeerCertificate,
  dialLink,
  loadTlsMaterial,
  peerNames,
  type TlsMaterial,
} from "./tls.ts";
import { LinkCounters } from "./link_counters.ts";

/** How a link adapter reaches its peer. */
export type LinkMode =
  | { kind: "dial"; direction: Direction; addresses: HostPort[] }
  | {
    kind: "accept";
    /** The peer's entry in --peers: its role and the origins it may relay (absent: any way). */
    spec?: PeerSpec;
  };

/** Timers and limits of a link (from the tunnel flags). */
export interface LinkSettings {
  /** Milliseconds between heartbeats on an idle link (`--heartbeat`). */
  heartbeat: number;
  /** Milliseconds of silence after which the link is given up (`--link-timeout`). */
  linkTimeout: number;
  /** Largest frame accepted, in bytes (`--max-frame`). */
  maxFrame: number;
  /** Milliseconds a write request waits for its result (`--write-timeout`). */
  writeTimeout: number;
  /** Bounds on what the peer can make this hop hold (default: the flags' defaults). */
  limits?: LinkLimits;
  /** Which link owns each origin; one per hop, shared by its links. */
  owners?: OriginOwners;
  /** The hop's certificates, kept current; absent: the files are read once at start. */
  certs?: CertWatch;
}

/** Grace period for a closing socket to flush its last frame before it is destroyed. */
const closeGrace = 1000;
/** How long after a link ends its dialer retries at the fast pace (see `LinkAdapter`). */
export const fastRetryWindow = 60_000;
/** A link open this long counts as a success: its end starts a new outage at the fast pace. */
const stableLink = 5_000;

/** One peer's link, dialled or accepted. */
export class LinkAdapter implements Adapter {
  readonly name: string;
  readonly kind = "link";
  /** The peer's hop name; `null` for a watcher that accepts whichever hop answers. */
  #peer: string | null;
  #mode: LinkMode;
  #settings: LinkSettings;
  #ctx: HopContext | null = null;
  #material: TlsMaterial | null = null;
  #points: LinkPoints | null = null;
  #link: Link | null = null;
  #socket: tls.TLSSocket | null = null;
  /**
   * Reconnect pacing. A chain is only as fresh as its slowest dialer after an
   * outage, and a restarted peer is usually back within seconds, so for the
   * first {@link fastRetryWindow} of an outage attempts come 100–500 ms apart
   * (at most 4 a second per address round): fresh data within 1 s of the
   * peer's return. A 2 s cap made that 1.0–1.6 s after a dmz restart. A
   * longer outage goes back to 1–2 s apart, so a peer that stays away is not
   * hammered.
   */
  #fast = new Backoff({ initial: 200, max: 500 });
  #slow = new Backoff({ initial: 2_000, max: 2_000 });
  /** When the outage began: the last lasting link ended or the first attempt failed (0: none yet). */
  #downSince = 0;
  /** Says the first snapshot of a pulling dialer is in (see `HopServices.startLoad`); null once said. */
  #firstSnapshotIn: (() => void) | null = null;
  /** When the current or last link opened. */
  #openedAt = 0;
  /** Failed dials since the last open link, and the last failure logged. */
  #failures = 0;
  #lastFailure = "";
  #lastLogged = 0;
  #address = 0;
  #retryTimer: TimerId = 0;
  #attemptTimer: TimerId = 0;
  #stopped = false;
  #onChange: ((connected: boolean, detail: string) => void) | null;
  /** Origin owners when the settings bring none (a lone link, as in `hopgate watch`). */
  #owners = new OriginOwners();
  /** Traffic since start, across sessions. */
  #counters = new LinkCounters();

  /**
   * A link to `peer` (`null`: whichever hop answers, as `hopgate watch` dials),
   * reached as `mode` says; `onChange` hears each connect and disconnect.
   */
  constructor(
    peer: string | null,
    mode: LinkMode,
    settings: LinkSettings & { onChange?: (connected: boolean, detail: string) => void },
  ) {
    this.#peer = peer;
    this.name = linkOrigin(peer ?? "*");
    this.#mode = mode;
    this.#settings = settings;
    this.#onChange = settings.onChange ?? null;
  }

  /** The current session, if any (for tests and status). */
  get link(): Link | null {
    return this.#link;
  }

  /**
   * Listeners on the current socket, all events together: a reconnecting
   * peer must not make them grow (tests watch it for leaks).
   */
  get socketListeners(): number {
    const s = this.#socket;
    return s ? s.eventNames().reduce((n, e) => n + s.listenerCount(e), 0) : 0;
  }

  /** Bytes written to the socket and not yet taken by the kernel: bounded by design. */
  get bufferedBytes(): number {
    return this.#socket?.writableLength ?? 0;
  }

  async start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    ctx.status.running("running");
    const spec = this.#mode.kind === "accept" ? this.#mode.spec : undefined;
    if (spec?.bare) {
      ctx.log.warn(
        "--peers names {peer} without a role: it may only watch (pull without writes); write {peer}:push or {peer}:pull to let it do more",
        { peer: spec.name },
      );
    }
    if (this.#peer !== null) {
      this.#points = new LinkPoints(ctx.store, this.#peer);
      this.#points.connected(false, ctx.clock.now());
    }
    if (this.#mode.kind === "dial") {
      if (this.#mode.direction === "pull") {
        this.#firstSnapshotIn =
          ctx.startLoad?.(`the first snapshot from ${this.#peer ?? "the peer"}`) ??
            null;
      }
      if (!this.#settings.certs) this.#material = await loadTlsMaterial(ctx.config);
      ctx.status.connection("connecting");
      this.#dial();
    }
  }

  stop(): Promise<void> {
    this.#stopped = true;
    this.#snapshotIn();
    const clock = this.#ctx?.clock ?? systemClock;
    clock.clearTimeout(this.#retryTimer);
    clock.clearTimeout(this.#attemptTimer);
    this.#link?.close("hop stopping");
    this.#socket?.destroy();
    this.#ctx?.status.running("stopped");
    this.#ctx?.status.connection("down");
    return Promise.resolve();
  }

  /** Its status, with the peer, which way the data flows and the link's traffic. */
  status(): AdapterStatus {
    const s = this.#ctx?.status.get() ?? notStarted(this);
    const side = this.#side();
    return {
      ...s,
      ...(this.#peer !== null && side !== null ? { peer: { name: this.#peer, side } } : {}),
      counters: { ...s.counters, ...this.#counters.snapshot() },
    };
  }

  /** `upstream` when the peer sends to this hop; `null` while unknown (a listener before hello). */
  #side(): "upstream" | "downstream" | null {
    const link = this.#link;
    if (link?.sends) return "downstream";
    if (link?.receives) return "upstream";
    const m = this.#mode;
    if (m.kind === "dial") return m.direction === "pull" ? "upstream" : "downstream";
    if (m.spec) return m.spec.role === "push" ? "upstream" : "downstream";
    return null;
  }

  /** Forwards a write toward the peer, which holds the point's origin side. */
  write(request: WriteRequest): Promise<StatusCode> {
    const point = this.#ctx?.store.get(request.id);
    const link = this.#link;
    if (!point || !link || link.state !== "open") return Promise.resolve(Status.BadNotConnected);
    return link.requestWrite(request, point.type);
  }

  /** Takes a connection the listener accepted and authenticated as this peer. */
  attach(socket: tls.TLSSocket): void {
    if (this.#stopped || this.#mode.kind !== "accept") {
      socket.destroy();
      return;
    }
    if (this.#link && this.#link.state !== "closed") {
      this.#link.close("replaced by a new connection from the same hop");
      this.#socket?.destroy();
    }
    this.#run(socket, "listener", null);
  }

  #dial(): void {
    if (this.#stopped || this.#mode.kind !== "dial") return;
    const ctx = this.#ctx!;
    const { addresses, direction } = this.#mode;
    const addr = addresses[this.#address % addresses.length]!;
    // Each attempt takes the certificates in use now, so a reload reaches the next link.
    const material = currentMaterial(this.#settings.certs, this.#material);
    const socket = dialLink(material, { ...addr, peer: this.#peer });
    this.#socket = socket;
    let failure = "";
    let session = false;
    socket.once("error", (e: Error) => failure ||= e.message);
    this.#attemptTimer = ctx.clock.setTimeout(() => {
      if (this.#link?.state !== "open") {
        failure ||= `no answer within ${this.#settings.linkTimeout} ms`;
        socket.destroy();
      }
    }, this.#settings.linkTimeout);
    socket.once("secureConnect", () => {
      if (this.#peer === null) {
        const names = peerNames(socket.getPeerCertificate());
        this.#peer = names[0] ?? "unknown";
      }
      session = true;
      this.#run(socket, "dialer", direction);
    });
    socket.once("close", () => {
      ctx.clock.clearTimeout(this.#attemptTimer);
      // A session reports its own end; this covers attempts that never got as far.
      if (!session) this.#retry(false, failure || "connection closed", addr);
    });
  }

  /** What the listener binds an accepted peer to: its role and the origins it may carry. */
  #rules(): { peerRole?: PeerSpec["role"]; bareRole?: boolean; origins?: string[] } {
    const spec = this.#mode.kind === "accept" ? this.#mode.spec : undefined;
    if (!spec) return {};
    return {
      peerRole: spec.role,
      bareRole: spec.bare,
      origins: [spec.name, ...spec.relays],
    };
  }

  /** Schedules the next dial: at once on the next address, with backoff after a full round. */
  #retry(wasOpen: boolean, reason: string, addr: HostPort): void {
    if (this.#stopped || this.#mode.kind !== "dial") return;
    const ctx = this.#ctx!;
    const n = this.#mode.addresses.length;
    const now = ctx.clock.now();
    // A link that ends soon after it opened (refused after hello, say) does not start the
    // fast pace again: its dialer keeps backing off.
    if ((wasOpen && now - this.#openedAt >= stableLink) || this.#downSince === 0) {
      this.#fast.reset();
      this.#slow.reset();
      this.#downSince = now;
    }
    const backoff = () =>
      (now - this.#downSince < fastRetryWindow ? this.#fast : this.#slow).next();
    let delay: number;
    if (wasOpen) {
      this.#failures = 0;
      this.#lastFailure = "";
      delay = backoff();
    } else {
      this.#address++;
      delay = this.#address % n === 0 ? backoff() : 0;
      const where = `${addr.host}:${addr.port}`;
      ctx.status.connection("connecting", `${where}: ${reason}`);
      // A long outage logs a changed reason, and the same one once a minute.
      const failure = `${where}: ${reason}`;
      if (failure !== this.#lastFailure || now - this.#lastLogged >= 60_000) {
        this.#lastLogged = now;
        ctx.log.warn(
          "Cannot link with {peer} at {addr}: {reason}; next attempt in {delay} ms (attempt {attempt})",
          { peer: this.#peer ?? "*", addr: where, reason, delay, attempt: this.#failures + 1 },
        );
        this.#lastFailure = failure;
      }
      this.#failures++;
    }
    this.#retryTimer = ctx.clock.setTimeout(() => this.#dial(), delay);
  }

  /** A snapshot from the peer is complete: the first one is a start-up load no longer awaited. */
  #snapshotIn(): void {
    this.#firstSnapshotIn?.();
    this.#firstSnapshotIn = null;
  }

  #run(socket: tls.TLSSocket, role: LinkRole, direction: Direction | null): void {
    const ctx = this.#ctx!;
    const s = this.#settings;
    this.#socket = socket;
    ctx.log.info("{peer} presented {certificate}", {
      peer: this.#peer,
      certificate: describePeerCertificate(socket.getPeerCertificate()),
    });
    let closeTimer: TimerId = 0;
    let opened = false;
    const counters = this.#counters;
    const wire = {
      write: (bytes: Uint8Array) => {
        counters.bytesSent += bytes.length;
        counters.framesSent++;
        return socket.write(bytes);
      },
      buffered: () => socket.writableLength,
      close: () => {
        socket.end();
        closeTimer = ctx.clock.setTimeout(() => socket.destroy(), closeGrace);
      },
    };
    const link: Link = new Link(wire, {
      hop: ctx.hop,
      peer: this.#peer!,
      role,
      ...(direction ? { direction } : {}),
      store: ctx.store,
      clock: ctx.clock,
      log: ctx.log,
      heartbeat: s.heartbeat,
      timeout: s.linkTimeout,
      maxFrame: s.maxFrame,
      writeTimeout: s.writeTimeout,
      ...(s.limits ? { limits: s.limits } : {}),
      owners: s.owners ?? this.#owners,
      ...this.#rules(),
      onWrite: (r) => ctx.write(r),
      onOpen: () => {
        opened = true;
        this.#openedAt = ctx.clock.now();
        ctx.clock.clearTimeout(this.#attemptTimer);
        ctx.status.connection("connected");
        this.#points?.connected(true, ctx.clock.now());
        this.#onChange?.(true, `${link.sends ? "sending to" : "receiving from"} ${link.peer}`);
      },
      onClose: (reason) => {
        if (this.#link === link) {
          ctx.status.connection(this.#mode.kind === "dial" ? "connecting" : "down", reason);
          if (opened) this.#points?.connected(false, ctx.clock.now());
        }
        if (opened) this.#onChange?.(false, reason);
      },
      onRtt: (ms) => this.#points?.rtt(ms, ctx.clock.now()),
      onSnapshot: () => this.#snapshotIn(),
      counters,
    });
    this.#link = link;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Uint8Array) => {
      counters.bytesReceived += chunk.length;
      link.receive(chunk);
    });
    socket.on("drain", () => link.drained());
    let error = "";
    socket.on("error", (e: Error) => error ||= e.message);
    socket.on("end", () => link.ended("connection closed by peer"));
    socket.once("close", () => {
      ctx.clock.clearTimeout(closeTimer);
      link.ended(error ? `connection lost: ${error}` : "connection closed");
      if (this.#link === link && this.#mode.kind === "dial") {
        const addr = this.#mode.addresses[this.#address % this.#mode.addresses.length]!;
        this.#retry(opened, link.closeReason, addr);
      }
    });
    link.start();
  }
}
