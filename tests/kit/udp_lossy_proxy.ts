/**
 * A UDP proxy on loopback that spoils what it forwards: it drops,
 * duplicates, reorders and corrupts datagrams at the rates given (from a
 * seeded generator, so a run can be repeated), keeps a copy of what it saw
 * for replay and forgery tests, and counts every datagram that comes back
 * from the target: through a data diode that count must stay zero.
 */
import dgram from "node:dgram";

/** How the proxy spoils datagrams, each a probability from 0 to 1. */
export interface Spoil {
  drop?: number;
  duplicate?: number;
  reorder?: number;
  corrupt?: number;
}

/** What the proxy has seen. */
export interface ProxyCounts {
  /** Datagrams from the client, and what became of them. */
  received: number;
  /** Bytes of the datagrams from the client (UDP payloads). */
  bytes: number;
  forwarded: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  /** Datagrams from the target toward the client. */
  reverse: number;
}

/** A small seeded generator (mulberry32), so a lossy run can be repeated. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The proxy: datagrams to {@link port} go on to the target, spoiled as set. */
export class UdpLossyProxy implements AsyncDisposable {
  /** The port clients send to. */
  readonly port: number;
  spoil: Spoil;
  readonly counts: ProxyCounts = {
    received: 0,
    bytes: 0,
    forwarded: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    corrupted: 0,
    reverse: 0,
  };
  /** Copies of the datagrams received from the client, as sent (before spoiling); bounded. */
  readonly seen: Uint8Array[] = [];
  #front: dgram.Socket;
  #back: dgram.Socket;
  #target: number;
  #client: { address: string; port: number } | null = null;
  #held: Uint8Array | null = null;
  #rand: () => number;
  #keep: number;

  private constructor(
    front: dgram.Socket,
    back: dgram.Socket,
    target: number,
    options: { spoil: Spoil; seed: number; keep: number },
  ) {
    this.#front = front;
    this.#back = back;
    this.#target = target;
    this.port = front.address().port;
    this.spoil = options.spoil;
    this.#rand = random(options.seed);
    this.#keep = options.keep;
    front.on("message", (m: Uint8Array, from) => this.#fromClient(m, from));
    back.on("message", (m: Uint8Array) => this.#fromTarget(m));
  }

  /** A proxy on 127.0.0.1 (any free port) toward 127.0.0.1:`target`. */
  static async start(
    target: number,
    options: { spoil?: Spoil; seed?: number; keep?: number } = {},
  ): Promise<UdpLossyProxy> {
    const bind = (s: dgram.Socket) =>
      new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.bind(0, "127.0.0.1", () => resolve());
      });
    const front = dgram.createSocket("udp4"), back = dgram.createSocket("udp4");
    await bind(front);
    await bind(back);
    return new UdpLossyProxy(front, back, target, {
      spoil: options.spoil ?? {},
      seed: options.seed ?? 1,
      keep: options.keep ?? 10_000,
    });
  }

  #fromClient(m: Uint8Array, from: { address: string; port: number }): void {
    this.#client = { address: from.address, port: from.port };
    this.counts.received++;
    this.counts.bytes += m.length;
    // Copied: a datagram arrives as a Buffer, whose slice() shares its bytes.
    if (this.seen.length < this.#keep) this.seen.push(Uint8Array.from(m));
    const s = this.spoil;
    const r = this.#rand;
    if (r() < (s.drop ?? 0)) {
      this.counts.dropped++;
      return;
    }
    let out = m;
    if (r() < (s.corrupt ?? 0)) {
      out = Uint8Array.from(m);
      out[Math.floor(r() * out.length)]! ^= 1 << Math.floor(r() * 8);
      this.counts.corrupted++;
    }
    if (this.#held === null && r() < (s.reorder ?? 0)) {
      // Held back until the next datagram has gone on.
      this.#held = out;
      this.counts.reordered++;
      return;
    }
    this.#forward(out);
    if (r() < (s.duplicate ?? 0)) {
      this.#forward(out);
      this.counts.duplicated++;
    }
    if (this.#held !== null) {
      const held = this.#held;
      this.#held = null;
      this.#forward(held);
    }
  }

  #forward(m: Uint8Array): void {
    this.counts.forwarded++;
    this.#back.send(m, this.#target, "127.0.0.1");
  }

  #fromTarget(m: Uint8Array): void {
    this.counts.reverse++;
    if (this.#client) this.#front.send(m, this.#client.port, this.#client.address);
  }

  /** Sends raw datagrams to the target as if they came through (replays, forgeries). */
  inject(datagrams: Uint8Array[]): void {
    for (const d of datagrams) this.#back.send(d, this.#target, "127.0.0.1");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([this.#front, this.#back].map((s) =>
      new Promise<void>((resolve) => {
        try {
          s.close(() => resolve());
        } catch {
          resolve();
        }
      })
    ));
  }
}
