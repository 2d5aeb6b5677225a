/**
 * The contracts between a hop and its adapters (sources, sinks, links).
 * Adapters implement these; core never imports an adapter.
 */
import type { Logger } from "@logtape/logtape";
import type { Clock } from "./clock.ts";
import type { Value } from "./point.ts";
import type { PointStore, StoredPoint } from "./point_store.ts";
import type { StatusCode } from "./status.ts";
import type { HopConfig } from "./config/mod.ts";

/** Whether an adapter has been started (independent of its connection). */
export type RunState = "running" | "stopped";

/** Whether an adapter reaches its peer, PLC or broker. */
export type Connection = "connecting" | "connected" | "down";

/** The two status axes of an adapter, kept apart, with the last error. */
export interface AdapterStatus {
  /** The adapter's name, unique within the hop. */
  name: string;
  /** `sim`, `opcua`, `mqtt`, `link`… */
  kind: string;
  /** Whether the adapter is running or stopped. */
  run: RunState;
  /** Whether it reaches its peer, PLC or broker. */
  connection: Connection;
  /** Epoch ms of the last connection change. */
  since: number;
  /** The last error, kept after a recovery for the status line; `null` before any. */
  lastError: string | null;
}

/** A write request as it travels toward the point's origin. */
export interface WriteRequest {
  /** The point written. */
  id: string;
  /** The value to write, of the point's type. */
  value: Value;
  /** Hops the request passed through, requester first. */
  via: string[];
}

/** What a hop gives every adapter when starting it. */
export interface HopContext {
  /** This hop's name. */
  hop: string;
  /** The hop's whole configuration; each adapter reads its own options. */
  config: HopConfig;
  /** The hop's mirror of the whole data set. */
  store: PointStore;
  /** The hop's clock: every timer goes through it, so tests can drive time. */
  clock: Clock;
  /** Aborted when the hop stops. */
  signal: AbortSignal;
  /** A logger under the adapter's own category. */
  log: Logger;
  /** Routes a write toward the point's origin, applying this hop's write policy. */
  write(request: WriteRequest): Promise<StatusCode>;
}

/** Anything a hop starts and stops: a source, a sink or a link. */
export interface Adapter {
  /** Unique within the hop; points a source delivers carry it as their origin. */
  readonly name: string;
  /** `sim`, `opcua`, `mqtt`, `link`… */
  readonly kind: string;
  /** Starts work; resolves once running (not necessarily connected). */
  start(ctx: HopContext): Promise<void>;
  /** Stops work, flushing what can be flushed. */
  stop(): Promise<void>;
  /** Its status now, for the status line and the link health points. */
  status(): AdapterStatus;
  /**
   * Performs (or forwards upstream) a write to a point this adapter delivered.
   * Present only on adapters that can write.
   */
  write?(request: WriteRequest): Promise<StatusCode>;
}

/** Mutable status bookkeeping for adapter implementations. */
export class StatusTracker {
  #status: AdapterStatus;
  #clock: Clock;

  /** Starts as stopped and down, since now on `clock`. */
  constructor(name: string, kind: string, clock: Clock) {
    this.#clock = clock;
    this.#status = {
      name,
      kind,
      run: "stopped",
      connection: "down",
      since: clock.now(),
      lastError: null,
    };
  }

  /** A copy of the current status. */
  get(): AdapterStatus {
    return { ...this.#status };
  }

  /** Records the run state. */
  running(run: RunState): void {
    this.#status.run = run;
  }

  /** Records a connection change; `error` is kept as the last error. */
  connection(connection: Connection, error?: string): void {
    if (connection !== this.#status.connection) {
      this.#status.connection = connection;
      this.#status.since = this.#clock.now();
    }
    if (error !== undefined) this.#status.lastError = error;
  }

  /**
   * Records an error that changes no connection (a point a sink could not
   * take), so the status shows it as the last error.
   */
  error(message: string): void {
    this.#status.lastError = message;
  }

  /**
   * A sink's `onError` for {@link PointStore.subscribe}: the point and what
   * the sink threw become the last error.
   */
  sinkError(error: unknown, point: StoredPoint | null): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#status.lastError = point === null
      ? `Failed at the end of a batch: ${message}`
      : `Failed on point ${point.id}: ${message}`;
  }
}
