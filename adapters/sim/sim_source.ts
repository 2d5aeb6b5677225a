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
  notStarted,
  type Point,
  Status,
  type StatusCode,
  type StoredPoint,
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
  #ctx: HopContext | null = null;
  #timer = 0;
  #changes: Uint32Array;
  #next = 0;
  #budget = 0;
  #lastTick = 0;
  #ids: string[] = [];
  #types: DataType[] = [];
  /** What the store returned for each point, handed back so it does not look the id up. */
  #held: (StoredPoint | undefined)[] = [];
  /** Changes asked for but dropped because a tick ran out of time, since the last warning. */
  #dropped = 0;
  #made = 0;
  #warnedAt = 0;
  /** The update handed to the store, reused: the store copies what it keeps. */
  #update: Point = {
    id: "",
    value: null,
    type: "Double",
    status: Status.Good,
    time: 0,
    hops: [],
    cause: null,
  };

  /** A simulator of `options.points` points; nothing changes before `start`. */
  constructor(options: SimOptions) {
    this.#opts = options;
    this.#changes = new Uint32Array(options.points);
  }

  start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    const now = ctx.clock.now();
    for (let i = 0; i < this.#opts.points; i++) {
      const { id, type } = simPoint(ctx.hop, i);
      this.#ids.push(id);
      this.#types.push(type);
    }
    for (let i = 0; i < this.#opts.points; i++) this.#publish(i, now);
    this.#warnedAt = now;
    ctx.status.running("running");
    ctx.status.connection("connected");
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
    const ctx = this.#ctx;
    if (ctx) {
      ctx.clock.clearTimeout(this.#timer);
      ctx.status.running("stopped");
      ctx.status.connection("down");
    }
    return Promise.resolve();
  }

  /** Its status: running and connected while started, stopped and down otherwise. */
  status(): AdapterStatus {
    return this.#ctx?.status.get() ?? notStarted(this);
  }

  /** Writes set the point's value as given, as a PLC tag would take it. */
  write(request: WriteRequest): Promise<StatusCode> {
    const ctx = this.#ctx;
    const p = ctx?.store.get(request.id);
    if (!ctx || !p) return Promise.resolve(Status.BadNodeIdUnknown);
    ctx.apply({
      id: p.id,
      value: request.value,
      type: p.type,
      status: Status.Good,
      time: ctx.clock.now(),
      hops: [],
      cause: null,
    });
    return Promise.resolve(Status.Good);
  }

  #schedule(): void {
    const ctx = this.#ctx!;
    if (ctx.signal.aborted || this.#opts.points === 0) return;
    this.#timer = ctx.clock.setTimeout(() => this.#tick(), this.#opts.tick ?? 20);
  }

  /**
   * Makes the changes due since the last tick, but works at most half a tick
   * period, so a rate beyond what this process can make never blocks its
   * event loop (the links of the same hop need it). Changes that do not fit
   * are dropped, not owed, and counted in a warning.
   */
  #tick(): void {
    const ctx = this.#ctx!;
    const clock = ctx.clock;
    const now = clock.now();
    const period = this.#opts.tick ?? 20;
    // Catch up at most one second, so a stalled event loop does not cause a burst.
    this.#budget += Math.min(1000, now - this.#lastTick) * this.#opts.rate / 1000;
    this.#lastTick = now;
    const n = Math.floor(this.#budget);
    this.#budget -= n;
    const points = this.#opts.points;
    const until = now + period / 2;
    let k = 0;
    while (k < n) {
      const end = Math.min(n, k + 1024);
      for (; k < end; k++) {
        const i = this.#next;
        this.#next = (i + 1) % points;
        this.#changes[i]!++;
        this.#publish(i, now);
      }
      if (clock.now() >= until) break;
    }
    this.#made += k;
    this.#dropped += n - k;
    if (this.#dropped > 0 && now - this.#warnedAt >= 10_000) {
      const s = (now - this.#warnedAt) / 1000;
      ctx.log.warn(
        "Simulator cannot keep up: made {made} of {asked} changes/s; this process has no more CPU time",
        {
          made: Math.round(this.#made / s),
          asked: Math.round((this.#made + this.#dropped) / s),
        },
      );
      this.#dropped = 0;
      this.#made = 0;
      this.#warnedAt = now;
    } else if (this.#dropped === 0 && now - this.#warnedAt >= 10_000) {
      this.#made = 0;
      this.#warnedAt = now;
    }
    this.#schedule();
  }

  #publish(i: number, now: number): void {
    const u = this.#update;
    u.id = this.#ids[i]!;
    u.value = simValue(this.#opts.seed, i, this.#changes[i]!);
    u.type = this.#types[i]!;
    u.time = now;
    this.#held[i] = this.#ctx!.apply(u, this.#held[i]) ?? undefined;
  }
}
