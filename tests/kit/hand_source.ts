/**
 * A source a test drives by hand: what it applies goes straight into the
 * hop's store with the source's name as origin, through the context the hop
 * gives every adapter (its status tracker and bound `apply`).
 */
import {
  type Adapter,
  type AdapterStatus,
  type HopContext,
  notStarted,
  type Point,
  Status,
  type StoredPoint,
} from "../../core/mod.ts";

/** A hand-driven source named `name`; `set` and `apply` work once the hop has started it. */
export class HandSource implements Adapter {
  readonly name: string;
  readonly kind: string;
  ctx: HopContext | null = null;
  #hops: string[];

  /** `hops`: the path its points say they travelled (a source upstream of this hop, say). */
  constructor(name = "hand", kind = "test", hops: string[] = []) {
    this.name = name;
    this.kind = kind;
    this.#hops = hops;
  }

  start(ctx: HopContext): Promise<void> {
    this.ctx = ctx;
    ctx.status.running("running");
    ctx.status.connection("connected");
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.ctx?.status.running("stopped");
    return Promise.resolve();
  }

  status(): AdapterStatus {
    return this.ctx?.status.get() ?? notStarted(this);
  }

  /** Applies a point: Good, stamped now and with this source's path unless `p` says otherwise. */
  apply(p: Partial<Point> & Pick<Point, "id" | "value" | "type">): StoredPoint | null {
    if (!this.ctx) throw new Error(`Source ${this.name} is not started`);
    const base = { status: Status.Good, time: Date.now(), hops: this.#hops, cause: null };
    return this.ctx.apply({ ...base, ...p });
  }
}
