/**
 * The receiving socket of the data diode (`diode-listen`): UDP packets on
 * one address, from any sender in --diode-peers, told apart by their key.
 * It only ever reads: no code path sends on the socket, and the hop's
 * permissions name no address but this one. Each packet is checked before
 * any work that a forger could make costly: its header, a known key, the
 * sender's replay window, then AES-GCM; a forged, corrupted, replayed or
 * unknown packet is dropped and counted, never applied.
 */
import dgram from "node:dgram";
import {
  type Adapter,
  type AdapterStatus,
  formatHostPort,
  type HopContext,
  type HostPort,
  notStarted,
  worthLogging,
} from "../../core/mod.ts";
import { type DiodeKey, keyName, readDiodeKeys, watchDiodeKeys } from "./diode_key.ts";
import { linkName, open, readHeader } from "./diode_packet.ts";
import type { DiodePeerSource } from "./diode_receiver.ts";
// The diode's settings join HopConfig where its options are declared.
import type {} from "./options.ts";

/** Packets waiting to be opened; more are dropped (and counted) rather than queued. */
const maxQueue = 8192;
/** Packets opened at once. */
const batch = 64;

/** Packets the listener dropped, by reason. */
export interface DiodeDrops {
  /** Not a diode packet of this version. */
  malformed: number;
  /** Naming a key this hop does not hold. */
  unknownKey: number;
  /** Failing authentication: forged, corrupted, or made for another link. */
  forged: number;
  /** Already taken, of an earlier run of the sender, or too far behind. */
  replayed: number;
  /** Arriving faster than they could be opened. */
  overload: number;
}

interface Known {
  key: DiodeKey;
  source: DiodePeerSource;
  link: Uint8Array;
}

/** The diode's receiving socket. */
export class DiodeListener implements Adapter {
  readonly name = "diode-listen";
  readonly kind = "diode-listen";
  #address: HostPort;
  #sources: Map<string, DiodePeerSource>;
  #ctx: HopContext | null = null;
  #socket: dgram.Socket | null = null;
  #keys = new Map<number, Known>();
  #queue: Uint8Array[] = [];
  #working = false;
  #abort = new AbortController();
  #received = 0;
  #drops: DiodeDrops = { malformed: 0, unknownKey: 0, forged: 0, replayed: 0, overload: 0 };

  /** Listens on `address` for the senders in `sources` (by hop name). */
  constructor(address: HostPort, sources: Map<string, DiodePeerSource>) {
    this.#address = address;
    this.#sources = sources;
  }

  /** The keys accepted now (of every peer, old and new during a rotation). */
  get keys(): number {
    return this.#keys.size;
  }

  /** Packets received, and those dropped by reason. */
  stats(): { received: number } & DiodeDrops {
    return { received: this.#received, ...this.#drops };
  }

  async start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    const file = ctx.config.diodeKey;
    this.#useKeys(await readDiodeKeys(file));
    for (const peer of this.#sources.keys()) {
      if (![...this.#keys.values()].some((k) => k.source.peer === peer)) {
        throw new Error(
          `Diode key file "${file}" has no key of ${peer} (--diode-peers); copy the line that hopgate certs diode-key ${peer} wrote there`,
        );
      }
    }
    watchDiodeKeys(file, ctx.clock, this.#abort.signal, {
      onKeys: (keys) => this.#useKeys(keys),
      onError: (e) => ctx.status.error(e.message),
    });
    const { host, port } = this.#address;
    // Deno's node:dgram keeps the system's default receive buffer (it ignores recvBufferSize):
    // docs/deployment.md says to raise net.core.rmem_default on a busy receiving host.
    const socket = dgram.createSocket({ type: host.includes(":") ? "udp6" : "udp4" });
    socket.on("message", (m: Uint8Array) => this.#received_(m));
    socket.on("error", (e) => ctx.status.error(e.message));
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(port, host, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    this.#socket = socket;
    ctx.status.running("running");
    ctx.status.connection("connected");
    ctx.log.info("Listening for diode packets on {address} from {peers}", {
      address: formatHostPort(this.#address),
      peers: [...this.#sources.keys()].join(", "),
    });
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    const socket = this.#socket;
    this.#socket = null;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.#ctx?.status.running("stopped");
    this.#ctx?.status.connection("down");
  }

  status(): AdapterStatus {
    return this.#ctx?.status.get() ?? notStarted(this);
  }

  /** Takes the keys of the peers in --diode-peers (again, after the file changed). */
  #useKeys(keys: DiodeKey[]): void {
    const ctx = this.#ctx!;
    const next = new Map<number, Known>();
    for (const key of keys) {
      const source = this.#sources.get(key.hop);
      if (source === undefined) {
        ctx.log.warn("Diode key file {file} has a key of {hop}, which is not in --diode-peers", {
          file: ctx.config.diodeKey,
          hop: key.hop,
        });
        continue;
      }
      next.set(key.id, { key, source, link: linkName(key.hop, ctx.hop) });
    }
    if (this.#keys.size > 0) {
      ctx.log.info("Diode keys now accepted: {keys}", {
        keys: [...next.values()].map((k) => `${k.source.peer} ${keyName(k.key)}`).join(", "),
      });
    }
    this.#keys = next;
  }

  #received_(packet: Uint8Array): void {
    this.#received++;
    if (this.#queue.length >= maxQueue) {
      this.#drop("overload", "arriving faster than they can be opened");
      return;
    }
    this.#queue.push(packet);
    if (!this.#working) {
      this.#working = true;
      this.#work().catch((e) => this.#ctx?.status.error((e as Error).message)).finally(() => {
        this.#working = false;
      });
    }
  }

  /** Opens queued packets a batch at a time and hands them on in arrival order. */
  async #work(): Promise<void> {
    while (this.#queue.length > 0 && this.#socket !== null) {
      const packets = this.#queue.splice(0, batch);
      const opened = await Promise.all(packets.map((p) => this.#open(p)));
      for (const o of opened) {
        if (o === null) continue;
        const { known, epoch, seq, plain } = o;
        const w = known.source.window;
        // Checked again: a duplicate may have been opened in the same batch.
        if (w.check(epoch, seq) !== "fresh") {
          this.#drop("replayed", "replayed or duplicated");
          continue;
        }
        const newEpoch = w.take(epoch, seq);
        known.source.packet(epoch, seq, plain, newEpoch);
      }
    }
  }

  async #open(packet: Uint8Array) {
    const h = readHeader(packet);
    if (h === null) {
      this.#drop("malformed", "not diode packets");
      return null;
    }
    const known = this.#keys.get(h.keyId);
    if (known === undefined) {
      this.#drop("unknownKey", "under a key this hop does not hold");
      return null;
    }
    if (known.source.window.check(h.epoch, h.seq) !== "fresh") {
      this.#drop("replayed", "replayed, duplicated, or of an earlier run of the sender");
      return null;
    }
    const plain = await open(known.key.key, packet, known.link);
    if (plain === null) {
      this.#drop("forged", "failing authentication (forged or corrupted)");
      return null;
    }
    return { known, epoch: h.epoch, seq: h.seq, plain };
  }

  #drop(reason: keyof DiodeDrops, what: string): void {
    const n = ++this.#drops[reason];
    if (worthLogging(n)) {
      this.#ctx?.log.warn("Dropped {n} diode packets {what} so far", { n, what });
      this.#ctx?.status.error(`Dropped ${n} packets ${what}`);
    }
  }
}
