/**
 * Two link ends over in-memory pipes, for the tunnel's tests: bytes move only
 * when a test pumps or delivers them, so every interleaving is the test's.
 */
import { logger, type ManualClock, type PointStore, Status, type StatusCode } from "../core/mod.ts";
import type { Direction } from "./control_frames.ts";
import { Link, type LinkOptions, type Wire } from "./link.ts";

/** One direction of an in-memory connection that can be stalled or cut. */
export class Pipe implements Wire {
  queue: Uint8Array[] = [];
  bytes = 0;
  stalled = false;
  cut = false;
  closed = false;
  /** Bytes accepted before write() reports a full buffer while stalled. */
  highWater = 64 * 1024;
  write(b: Uint8Array): boolean {
    if (this.closed || this.cut) return true;
    this.queue.push(b);
    this.bytes += b.length;
    return !this.stalled || this.bytes < this.highWater;
  }
  close(): void {
    this.closed = true;
  }
  buffered(): number {
    return this.stalled ? this.bytes : 0;
  }
  /** Hands everything queued to `to` now (no pump, no drain); returns the bytes delivered. */
  deliver(to: Link): number {
    const q = this.queue.splice(0);
    this.bytes = 0;
    for (const c of q) to.receive(c);
    return q.reduce((n, c) => n + c.length, 0);
  }
}

/** Two link ends over in-memory pipes, delivering only when pumped. */
export class Pair {
  a: Link;
  b: Link;
  ab = new Pipe();
  ba = new Pipe();
  /** Sees every chunk `a` sends, as it is delivered by {@link pump}. */
  tap: ((chunk: Uint8Array) => void) | null = null;
  constructor(
    readonly clock: ManualClock,
    readonly storeA: PointStore,
    readonly storeB: PointStore,
    direction: Direction,
    extra: Partial<LinkOptions> = {},
    extraB: Partial<LinkOptions> = {},
  ) {
    const base = {
      clock,
      log: logger("test"),
      heartbeat: 1000,
      timeout: 5000,
      maxFrame: 1 << 20,
      writeTimeout: 3000,
      sendBuffer: 16 * 1024,
      onWrite: () => Promise.resolve(Status.BadNotWritable as StatusCode),
    };
    this.a = new Link(this.ab, {
      ...base,
      hop: storeA.hop,
      peer: storeB.hop,
      role: "dialer",
      direction,
      store: storeA,
      ...extra,
    });
    this.b = new Link(this.ba, {
      ...base,
      hop: storeB.hop,
      peer: storeA.hop,
      role: "listener",
      store: storeB,
      ...extraB,
    });
    this.b.start();
    this.a.start();
  }

  /** Delivers queued bytes both ways (and pending flushes) until nothing moves. */
  async pump(): Promise<void> {
    for (let round = 0; round < 1000; round++) {
      await Promise.resolve();
      let moved = false;
      for (const [pipe, to] of [[this.ab, this.b], [this.ba, this.a]] as const) {
        if (pipe.stalled) continue;
        const q = pipe.queue;
        pipe.queue = [];
        pipe.bytes = 0;
        for (const chunk of q) {
          if (pipe === this.ab) this.tap?.(chunk);
          to.receive(chunk);
        }
        if (q.length) {
          moved = true;
          (pipe === this.ab ? this.a : this.b).drained();
        }
      }
      if (!moved) return;
    }
    throw new Error("pump did not settle");
  }
}
