/**
 * The built-in simulated source: points of mixed types that change at a
 * given total rate, with values that are a pure function of (seed, point,
 * change number) so runs and tests are repeatable.
 */
import {
  type Adapter,
  type AdapterStatus,
  type DataType,
  type HopContext,
  Status,
  type StatusCode,
  StatusTracker,
  systemClock,
  type Value,
  type WriteRequest,
} from "../../core/mod.ts";

/** The kinds the simulator cycles through, in order. */
export const simKinds = [
  { kind: "double", type: "Double" },
  { kind: "int32", type: "Int32" },
  { kind: "int64", type: "Int64" },
  { kind: "bool", type: "Boolean" },
  { kind: "string", type: "String" },
] as const satisfies readonly { kind: string; type: DataType }[];

/** The id and type of simulated point `i` on hop `hop`. */
export function simPoint(hop: string, i: number): { id: string; type: DataType } {
  const k = simKinds[i % simKinds.length]!;
  return { id: `${hop}/sim/${k.kind}/${i}`, type: k.type };
}

/** A 32-bit mix of three integers (a small avalanche hash). */
function mix(seed: number, a: number, b: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ a, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The value of simulated point `i` at its `n`-th change, for seed `seed`. */
export function simValue(seed: number, i: number, n: number): Value {
  const r = mix(seed, i, n);
  switch (simKinds[i % simKinds.length]!.kind) {
    case "double":
      return Math.round((20 + (r / 0xffffffff) * 80) * 1000) / 1000;
    case "int32":
      return (r | 0);
    case "int64":
      // Beyond 2^53 on purpose: these must survive the chain exactly.
      return (1n << 60n) + BigInt(r) * 1_000_003n + BigInt(n);
    case "bool":
      return (r & 1) === 1;
    default:
      return `state-${r % 1000}`;
  }
}

/** Settings of one simulator. */
export interface SimOptions {
  points: number;
  rate: number;
  seed: number;
  /** Tick period in ms (default 20). */
  tick?: number;
}

/** The simulated source adapter. */
export class SimSource implements Adapter {
  readonly name = "sim";
  readonly kind = "sim";
  #opts: SimOptions;
  #status: StatusTracker;
  #ctx: HopContext | null = null;
  #timer = 0;
  #changes: Uint32Array;
  #next = 0;
  #budget = 0;
  #lastTick = 0;

  constructor(options: SimOptions) {
    this.#opts = options;
    this.#status = new StatusTracker(this.name, this.kind, systemClock);
    this.#changes = new Uint32Array(options.points);
  }

  start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    this.#status = new StatusTracker(this.name, this.kind, ctx.clock);
    const now = ctx.clock.now();
    for (let i = 0; i < this.#opts.points; i++) this.#publish(i, now);
    this.#status.running("running");
    this.#status.connection("connected");
    this.#lastTick = now;
    this.#schedule();
    ctx.log.info("Simulating {points} points at {rate} changes/s (seed {seed})", {
      points: this.#opts.points,
      rate: this.#opts.rate,
      seed: this.#opts.seed,
    });
    return Promise.resolve();
  }

  stop(): Promise<void> {
    if (this.#ctx) this.#ctx.clock.clearTimeout(this.#timer);
    this.#status.running("stopped");
    this.#status.connection("down");
    return Promise.resolve();
  }

  status(): AdapterStatus {
    return this.#status.get();
  }

  /** Writes set the point's value as given, as a PLC tag would take it. */
  write(request: WriteRequest): Promise<StatusCode> {
    const ctx = this.#ctx;
    const p = ctx?.store.get(request.id);
    if (!ctx || !p) return Promise.resolve(Status.BadNodeIdUnknown);
    ctx.store.apply({
      id: p.id,
      value: request.value,
      type: p.type,
      status: Status.Good,
      time: ctx.clock.now(),
      hops: [],
      cause: null,
    }, this.name);
    return Promise.resolve(Status.Good);
  }

  #schedule(): void {
    const ctx = this.#ctx!;
    if (ctx.signal.aborted || this.#opts.points === 0) return;
    this.#timer = ctx.clock.setTimeout(() => this.#tick(), this.#opts.tick ?? 20);
  }

  #tick(): void {
    const ctx = this.#ctx!;
    const now = ctx.clock.now();
    // Catch up at most one second, so a stalled event loop does not cause a burst.
    this.#budget += Math.min(1000, now - this.#lastTick) * this.#opts.rate / 1000;
    this.#lastTick = now;
    const n = Math.floor(this.#budget);
    this.#budget -= n;
    const points = this.#opts.points;
    for (let k = 0; k < n; k++) {
      const i = this.#next;
      this.#next = (i + 1) % points;
      this.#changes[i]!++;
      this.#publish(i, now);
    }
    this.#schedule();
  }

  #publish(i: number, now: number): void {
    const ctx = this.#ctx!;
    const { id, type } = simPoint(ctx.hop, i);
    ctx.store.apply({
      id,
      value: simValue(this.#opts.seed, i, this.#changes[i]!),
      type,
      status: Status.Good,
      time: now,
      hops: [],
      cause: null,
    }, this.name);
  }
}
