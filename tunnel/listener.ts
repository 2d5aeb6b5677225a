/**
 * The listener (`listener`): the one socket of the chain that faces a less
 * trusted zone. It refuses anything that is not a peer named in --peers with
 * a certificate from the chain's CA, and hands each authenticated connection
 * to its peer's link adapter.
 *
 * Before authentication a connection costs the hop without proving anything,
 * so it is held on a short leash: a connection from outside --allow-from is
 * closed before TLS; one still in its handshake after --handshake-timeout is
 * closed; and connections still in their handshake are capped per address
 * (--max-unauthenticated-per-address) and in total (--max-unauthenticated),
 * apart from the established links (--max-links), so a flood of silent
 * connections cannot take a peer's place. Refusals go through a RefusalLog:
 * one line per reason and a summary per interval, not a line per attempt.
 */
import * as net from "node:net";
import type * as tls from "node:tls";
import {
  type Adapter,
  type AdapterStatus,
  addressBytes,
  type CertWatch,
  type Cidr,
  type Clock,
  formatHostPort,
  type HopContext,
  type HostPort,
  inRanges,
  notStarted,
  RefusalLog,
  systemClock,
  type TimerId,
} from "../core/mod.ts";
import type { LinkAdapter } from "./link_adapter.ts";
import {
  createLinkServer,
  currentMaterial,
  handshakeFailure,
  loadTlsMaterial,
  peerNames,
  tcpSocketOf,
  type TlsMaterial,
} from "./tls.ts";

/** The listener's limits (from the tunnel flags). */
export interface ListenerOptions {
  /** Most authenticated links held at once (--max-links). */
  maxLinks: number;
  /** Milliseconds a connection has to finish its TLS handshake (--handshake-timeout). */
  handshakeTimeout: number;
  /** Addresses connections are accepted from (--allow-from); empty accepts any. */
  allowFrom: Cidr[];
  /** Most connections in their TLS handshake at once (--max-unauthenticated). */
  maxUnauthenticated: number;
  /** Most of them from one address (--max-unauthenticated-per-address). */
  maxUnauthenticatedPerAddress: number;
  /** The hop's certificates, kept current; absent: the files are read once at start. */
  certs?: CertWatch;
}

/** A TCP connection the listener admitted, until it authenticates or closes. */
interface Admitted {
  raw: net.Socket;
  remote: string;
  /** What the per-address cap counts by: the address, or its /64 for IPv6. */
  source: string;
  timer: TimerId;
  /** pending: in its handshake; secure: authenticated; failed: its handshake failed; cut: closed by the listener; closed. */
  state: "pending" | "secure" | "failed" | "cut" | "closed";
}

/**
 * What the per-address cap counts by: an IPv4 address, or an IPv6 address's
 * /64, since one IPv6 host commonly holds a whole /64.
 */
function sourceOf(remote: string): string {
  const bytes = addressBytes(remote);
  if (!bytes) return remote;
  if (bytes.length === 4) return bytes.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return `${groups.join(":")}::/64`;
}

/** Accepts links from the peers named in --peers. */
export class ListenerAdapter implements Adapter {
  readonly name = "listener";
  readonly kind = "listener";
  #address: HostPort;
  #peers: Map<string, LinkAdapter>;
  #options: ListenerOptions;
  #ctx: HopContext | null = null;
  #clock: Clock = systemClock;
  #server: net.Server | null = null;
  /** The TLS side that new connections are handed to; replaced when the certificates reload. */
  #secure: tls.Server | null = null;
  #unwatch: () => void = () => {};
  #stopped = false;
  #refusals: RefusalLog | null = null;
  /** Connections in their handshake, oldest first. */
  #pending = new Map<net.Socket, Admitted>();
  /** How many of them each source holds. */
  #perSource = new Map<string, number>();
  /** Every admitted connection, still known when a late TLS error names it. */
  #admitted = new WeakMap<net.Socket, Admitted>();
  /** Authenticated links, with the peer each belongs to. */
  #links = new Map<tls.TLSSocket, string>();

  /** A listener on `address` for the link adapters of the hops in `peers`, keyed by name. */
  constructor(address: HostPort, peers: Map<string, LinkAdapter>, options: ListenerOptions) {
    this.#address = address;
    this.#peers = peers;
    this.#options = { ...options, allowFrom: [...options.allowFrom] };
  }

  /** Authenticated connections held now. */
  get links(): number {
    return this.#links.size;
  }

  /** Connections still in their TLS handshake now. */
  get pending(): number {
    return this.#pending.size;
  }

  async start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    this.#clock = ctx.clock;
    const log = ctx.log;
    const refusals = new RefusalLog({ log, clock: ctx.clock });
    this.#refusals = refusals;
    const certs = this.#options.certs;
    this.#secure = this.#tlsServer(
      currentMaterial(certs, certs ? null : await loadTlsMaterial(ctx.config)),
    );
    // Connections in their handshake or linked keep the server they started with.
    if (certs) {
      this.#unwatch = certs.onChange(() =>
        this.#secure = this.#tlsServer(currentMaterial(certs, null))
      );
    }
    const server = net.createServer((raw) => this.#onConnection(raw, this.#secure!));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#address.port, this.#address.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (e: Error) => {
      log.error("Listener error: {error}", { error: e.message });
      ctx.status.connection("down", e.message);
    });
    ctx.status.running("running");
    ctx.status.connection("connected");
    const o = this.#options;
    log.info(
      "Listening on {address} for {peers} (from {allowFrom}; TLS handshakes within {handshakeTimeout} ms, at most {maxUnauthenticated} at once and {maxUnauthenticatedPerAddress} per address; at most {maxLinks} links)",
      {
        address: formatHostPort(this.#address),
        peers: [...this.#peers.keys()].join(", "),
        allowFrom: o.allowFrom.length ? o.allowFrom.map((c) => c.text).join(", ") : "any address",
        handshakeTimeout: o.handshakeTimeout,
        maxUnauthenticated: o.maxUnauthenticated,
        maxUnauthenticatedPerAddress: o.maxUnauthenticatedPerAddress,
        maxLinks: o.maxLinks,
      },
    );
  }

  /** A TLS server with `material` for the connections the listener admits from now on. */
  #tlsServer(material: TlsMaterial): tls.Server {
    const refusals = this.#refusals!;
    const secure = createLinkServer(
      material,
      { handshakeTimeout: 2 * this.#options.handshakeTimeout },
      (socket) => this.#onSecure(socket),
    );
    // A failed handshake does not close the socket by itself.
    secure.on("tlsClientError", (e: Error, socket: tls.TLSSocket) => {
      const a = this.#find(socket);
      socket.destroy();
      if (a) this.#leave(a, "failed");
      // A connection the listener cut itself was logged when it was cut.
      if (a?.state === "cut" || this.#stopped) return;
      refusals.refuse({
        reason: "TLS handshake failed",
        remote: a?.remote ?? socket.remoteAddress ?? "?",
        detail: `TLS handshake failed: ${handshakeFailure(e)}`,
      });
    });
    return secure;
  }

  /** Admits a TCP connection into its TLS handshake, or closes it unread. */
  #onConnection(raw: net.Socket, secure: tls.Server): void {
    // A connection reset before this runs still emits its error here.
    raw.on("error", () => {});
    const remote = raw.remoteAddress ?? "?";
    const o = this.#options;
    const refusals = this.#refusals!;
    if (this.#stopped) {
      raw.destroy();
      return;
    }
    if (o.allowFrom.length > 0 && !inRanges(remote, o.allowFrom)) {
      raw.destroy();
      refusals.refuse({
        reason: "not in --allow-from",
        remote,
        detail: `not in --allow-from (${o.allowFrom.slice(0, 5).map((c) => c.text).join(", ")}${
          o.allowFrom.length > 5 ? ", …" : ""
        }); add its address there if a peer connects from it`,
      });
      return;
    }
    const source = sourceOf(remote);
    const held = this.#perSource.get(source) ?? 0;
    if (held >= o.maxUnauthenticatedPerAddress) {
      raw.destroy();
      refusals.refuse({
        reason: "--max-unauthenticated-per-address",
        remote,
        detail:
          `${source} already holds ${held} connections in their TLS handshake (--max-unauthenticated-per-address ${o.maxUnauthenticatedPerAddress}; raise it if several peers share this address)`,
      });
      return;
    }
    if (this.#pending.size >= o.maxUnauthenticated && !this.#makeRoom(source, held, remote)) {
      raw.destroy();
      refusals.refuse({
        reason: "--max-unauthenticated",
        remote,
        detail:
          `${this.#pending.size} connections are in their TLS handshake (--max-unauthenticated ${o.maxUnauthenticated}), none from an address holding more of them than ${source}`,
      });
      return;
    }
    const a: Admitted = { raw, remote, source, timer: 0, state: "pending" };
    a.timer = this.#clock.setTimeout(() => {
      if (a.state !== "pending") return;
      this.#cut(a, {
        reason: "--handshake-timeout",
        detail:
          `no TLS handshake within ${o.handshakeTimeout} ms (--handshake-timeout; raise it for a peer on a slow line)`,
      });
    }, o.handshakeTimeout);
    this.#pending.set(raw, a);
    this.#perSource.set(source, held + 1);
    this.#admitted.set(raw, a);
    raw.once("close", () => this.#leave(a, "closed"));
    secure.emit("connection", raw);
  }

  /**
   * With every handshake slot taken, a connection from a source holding fewer
   * of them than the busiest one takes the place of that source's oldest: a
   * peer's connection cannot be shut out by a flood from a few addresses.
   */
  #makeRoom(source: string, held: number, newcomer: string): boolean {
    let busiest = "", most = 0;
    for (const [s, n] of this.#perSource) {
      if (n > most) [busiest, most] = [s, n];
    }
    if (most <= held || busiest === source) return false;
    for (const a of this.#pending.values()) {
      if (a.source !== busiest) continue;
      this.#cut(a, {
        reason: "cut for a newer connection (--max-unauthenticated)",
        detail:
          `its TLS handshake was cut short for a connection from ${newcomer}: --max-unauthenticated ${this.#options.maxUnauthenticated} were in their handshake, ${most} of them from ${busiest}`,
      });
      return true;
    }
    return false;
  }

  /** Closes an admitted connection the listener gives up on, and logs why. */
  #cut(a: Admitted, why: { reason: string; detail: string }): void {
    this.#leave(a, "cut");
    a.raw.destroy();
    this.#refusals?.refuse({ ...why, remote: a.remote });
  }

  /** Takes a connection out of the handshake counts (once). */
  #leave(a: Admitted, state: Exclude<Admitted["state"], "pending">): void {
    if (a.state !== "pending") return;
    a.state = state;
    this.#pending.delete(a.raw);
    const n = (this.#perSource.get(a.source) ?? 1) - 1;
    if (n > 0) this.#perSource.set(a.source, n);
    else this.#perSource.delete(a.source);
    this.#clock.clearTimeout(a.timer);
  }

  /** The admitted connection under a TLS socket. */
  #find(socket: tls.TLSSocket): Admitted | undefined {
    const raw = tcpSocketOf(socket);
    if (raw) return this.#admitted.get(raw);
    for (const a of this.#pending.values()) {
      if (a.raw.remotePort === socket.remotePort && a.remote === socket.remoteAddress) return a;
    }
    return undefined;
  }

  #onSecure(socket: tls.TLSSocket): void {
    const a = this.#find(socket);
    if (a) this.#leave(a, "secure");
    if (this.#stopped || socket.destroyed || a?.state === "cut") {
      socket.destroy();
      return;
    }
    const remote = a?.remote ?? socket.remoteAddress ?? "?";
    const names = peerNames(socket.getPeerCertificate());
    const peer = names.find((n) => this.#peers.has(n));
    const refuse = (reason: string, detail: string) => {
      socket.destroy();
      this.#refusals?.refuse({ reason, remote, detail, what: "link" });
    };
    if (peer === undefined) {
      return refuse(
        "certificate name not in --peers",
        `its certificate names ${names.join(", ") || "nothing"}, which is not in --peers`,
      );
    }
    // A peer's new connection replaces its old link, so it never needs a slot of its own.
    const replacing = [...this.#links.values()].includes(peer);
    if (!replacing && this.#links.size >= this.#options.maxLinks) {
      return refuse("--max-links", `${peer} would exceed --max-links (${this.#options.maxLinks})`);
    }
    this.#links.set(socket, peer);
    socket.once("close", () => this.#links.delete(socket));
    this.#peers.get(peer)!.attach(socket);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unwatch();
    const server = this.#server;
    this.#server = null;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const a of [...this.#pending.values()]) {
        this.#leave(a, "cut");
        a.raw.destroy();
      }
      for (const s of this.#links.keys()) s.destroy();
      await closed;
    }
    this.#refusals?.flush();
    this.#ctx?.status.running("stopped");
    this.#ctx?.status.connection("down");
  }

  /** Its status, with the connections it refused by reason. */
  status(): AdapterStatus {
    const s = this.#ctx?.status.get() ?? notStarted(this);
    return { ...s, refusals: this.#refusals?.byReason() ?? {} };
  }
}
