/**
 * The listener (`listener`): the one socket of the chain that faces a less
 * trusted zone. It refuses, logs and forgets anything that is not a peer
 * named in --peers with a certificate from the chain's CA, caps the number of
 * connections, and hands each authenticated connection to its peer's link adapter.
 */
import type * as net from "node:net";
import type * as tls from "node:tls";
import {
  type Adapter,
  type AdapterStatus,
  formatHostPort,
  type HopContext,
  type HostPort,
  StatusTracker,
  systemClock,
} from "../core/mod.ts";
import type { LinkAdapter } from "./link_adapter.ts";
import { createLinkServer, loadTlsMaterial, peerNames } from "./tls.ts";

/** Connections still in their TLS handshake allowed beyond --max-links, so peers get in during a flood. */
const handshakeHeadroom = 16;

/** Accepts links from the peers named in --peers. */
export class ListenerAdapter implements Adapter {
  readonly name = "listener";
  readonly kind = "listener";
  #address: HostPort;
  #peers: Map<string, LinkAdapter>;
  #maxLinks: number;
  #handshakeTimeout: number;
  #status: StatusTracker;
  #server: tls.Server | null = null;
  #raw = new Set<net.Socket>();
  #links = new Set<tls.TLSSocket>();

  constructor(
    address: HostPort,
    peers: Map<string, LinkAdapter>,
    options: { maxLinks: number; handshakeTimeout: number },
  ) {
    this.#address = address;
    this.#peers = peers;
    this.#maxLinks = options.maxLinks;
    this.#handshakeTimeout = options.handshakeTimeout;
    this.#status = new StatusTracker(this.name, this.kind, systemClock);
  }

  /** Authenticated connections held now. */
  get links(): number {
    return this.#links.size;
  }

  async start(ctx: HopContext): Promise<void> {
    this.#status = new StatusTracker(this.name, this.kind, ctx.clock);
    const log = ctx.log;
    const material = await loadTlsMaterial(ctx.config);
    const server = createLinkServer(
      material,
      { handshakeTimeout: this.#handshakeTimeout },
      (socket) => this.#onSecure(ctx, socket),
    );
    this.#server = server;
    server.on("connection", (raw: net.Socket) => {
      if (this.#raw.size >= this.#maxLinks + handshakeHeadroom) {
        log.warn("Refused a connection from {remote}: {n} connections already open", {
          remote: raw.remoteAddress ?? "?",
          n: this.#raw.size,
        });
        raw.destroy();
        return;
      }
      this.#raw.add(raw);
      raw.once("close", () => this.#raw.delete(raw));
    });
    // A failed or timed-out handshake does not close the socket by itself.
    server.on("tlsClientError", (e: Error, socket: tls.TLSSocket) => {
      log.warn("Refused a connection from {remote}: TLS handshake failed: {error}", {
        remote: socket.remoteAddress ?? "?",
        // OpenSSL aborts the handshake on a certificate from another CA; Node reports a hang-up.
        error: e.message === "socket hang up"
          ? "the client's certificate was refused or it gave up"
          : e.message,
      });
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#address.port, this.#address.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (e: Error) => {
      log.error("Listener error: {error}", { error: e.message });
      this.#status.connection("down", e.message);
    });
    this.#status.running("running");
    this.#status.connection("connected");
    log.info("Listening on {address} for {peers}", {
      address: formatHostPort(this.#address),
      peers: [...this.#peers.keys()].join(", "),
    });
  }

  #onSecure(ctx: HopContext, socket: tls.TLSSocket): void {
    const names = peerNames(socket.getPeerCertificate());
    const peer = names.find((n) => this.#peers.has(n));
    const refuse = (why: string) => {
      ctx.log.warn("Refused a link from {remote}: {why}", {
        remote: socket.remoteAddress ?? "?",
        why,
      });
      socket.destroy();
    };
    if (peer === undefined) {
      return refuse(
        `its certificate names ${names.join(", ") || "nothing"}, which is not in --peers`,
      );
    }
    if (this.#links.size >= this.#maxLinks) {
      return refuse(`${peer} would exceed --max-links (${this.#maxLinks})`);
    }
    this.#links.add(socket);
    socket.once("close", () => this.#links.delete(socket));
    this.#peers.get(peer)!.attach(socket);
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of this.#raw) s.destroy();
      await closed;
    }
    this.#status.running("stopped");
    this.#status.connection("down");
  }

  status(): AdapterStatus {
    return this.#status.get();
  }
}
