/**
 * The contracts between a hop and its adapters (sources, sinks, links).
 * Adapters implement these; core never imports an adapter.
 */
import type { Clock } from "./clock.ts";
import type { Point, Value } from "./point.ts";
import type { PointStore, StoredPoint } from "./point_store.ts";
import type { StatusCode } from "./status.ts";
import type { HopConfig } from "./config/mod.ts";
import type { Logger } from "./log.ts";
import type { CertWatch, HeldCertificate } from "./cert_watch.ts";

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
  /**
   * For a link, once known: the peer hop and which way the data flows
   * (`upstream`: the peer sends its points to this hop), so the status page
   * can draw the chain.
   */
  peer?: { name: string; side: "upstream" | "downstream" };
  /**
   * Counters since the adapter started, in base units, for the status
   * endpoint: `updates_applied` for every adapter (what it applied through its
   * context), more for some (a link's `bytes_sent`, `points_received`…).
   */
  counters?: Readonly<Record<string, number>>;
  /** Connections refused since start, by reason (the tunnel listener's). */
  refusals?: Readonly<Record<string, number>>;
  /** A short note for the status line (an OPC UA source's queue overflows); absent when none. */
  detail?: string;
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

/** What a hop shares with every adapter it starts. */
export interface HopServices {
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
  /**
   * Every adapter's status now (`Hop.statuses()`), for adapters that report on
   * the hop (the status endpoint). Read-only; absent where no hop runs the
   * adapter (`hopgate watch`, some tests).
   */
  statuses?: () => AdapterStatus[];
  /** Write requests the hop routed, by the name of their result (`Good`, `BadNotWritable`…). */
  writeResults?: () => Record<string, number>;
  /**
   * The certificates the hop's certificate watches (`certs:tls`,
   * `certs:mqtt`) use now, following every reload (`Hop.certificates()`),
   * for adapters that report on the hop. Read-only; absent where no hop runs
   * the adapter.
   */
  certificates?: () => HeldCertificate[];
  /**
   * The hop's certificate watch of set `set` (`tls` for `certs:tls`), if it
   * has one, for an adapter that serves the same identity and must follow its
   * reloads (the status endpoint's HTTPS). Absent where no hop runs the adapter.
   */
  certWatch?: (set: string) => CertWatch | undefined;
  /**
   * Gives back, at once, the heap a one-off phase of the adapter left behind
   * (an OPC UA source's read and subscription of 100,000 items: the pages of
   * about 55 MB of garbage, and a young generation grown to its full size),
   * which the hop's quiet-time collections would not while data flows. One
   * full collection, logged with `when`; skipped above the memory release's
   * heap limit, where its pause would be felt. Asked before the hop has
   * started, it is left to the hop's start-up collection (logged as such).
   * Absent where no hop runs the adapter; a no-op without `--expose-gc`.
   */
  releaseMemory?: (when: string) => void;
  /**
   * Says that the adapter's start brings a one-off load (a pulling link's
   * first snapshot: 100,000 points are as many objects the hop keeps), and
   * returns the function to call once it is in. The hop's start-up collection
   * waits for every load announced before the hop has started, or for
   * {@link startLoadWaitMs} at the most, instead of running before them: a
   * regular full collection then gives back what loading the program and the
   * loads left, and V8 sizes its heap by the data set rather than by the empty hop (a
   * new hop pulling 100,000 points otherwise had two mark-compacts of its old
   * generation while the snapshot came in). Absent where no hop runs the
   * adapter; announced after the hop has started, it changes nothing.
   */
  startLoad?: (what: string) => () => void;
}

/** The longest a hop's start-up collection waits for the loads its adapters announced (`startLoad`). */
export const startLoadWaitMs = 10_000;

/**
 * What a hop gives an adapter when starting it: the {@link HopServices} every
 * adapter shares, and what every adapter used to repeat, bound to this one by
 * {@link adapterContext}: its status tracker, and the store's operations with
 * the adapter's name as the points' origin.
 */
export interface HopContext extends HopServices {
  /**
   * This adapter's status, made by the hop when it starts the adapter, on the
   * hop's clock and named after the adapter: the adapter records its run state,
   * connection and errors here, and its `status()` reads it. The adapter makes
   * no tracker of its own. The hop makes it at start rather than when the hop
   * is made, so an adapter reads the same status as when it made its tracker in
   * `start` (`since` is the start); before that it has no context and reads
   * {@link notStarted}.
   */
  status: StatusTracker;
  /**
   * Applies an update this adapter delivers: `store.apply(point, <adapter name>, held)`.
   * A source applying many updates keeps what this returned for each point
   * and hands it back as `held`, so the store need not look the id up.
   */
  apply(point: Point, held?: StoredPoint): StoredPoint | null;
  /**
   * Marks every point this adapter delivered as lost ({@link PointStore.failOrigin}),
   * with the cause: this hop, via this adapter, since now, for `reason`. Returns the count.
   */
  failAll(reason: string): number;
  /** Removes every point this adapter delivered whose id is not in `keep`; returns how many went. */
  removeAllBut(keep: ReadonlySet<string>): number;
}

/**
 * The context of one adapter: `services` plus its own status tracker (on
 * `services.clock`, named after the adapter) and the store operations bound to
 * its name as origin. The hop makes one per adapter as it starts it; anything
 * else that starts an adapter (`hopgate watch`, tests) does the same.
 */
export function adapterContext(
  adapter: Pick<Adapter, "name" | "kind">,
  services: HopServices,
): HopContext {
  const { name } = adapter;
  const { hop, store, clock } = services;
  const status = new StatusTracker(name, adapter.kind, clock);
  return {
    ...services,
    status,
    apply: (point, held) => {
      status.updates++;
      return store.apply(point, name, held);
    },
    failAll: (reason) => store.failOrigin(name, { hop, via: name, since: clock.now(), reason }),
    removeAllBut: (keep) => store.removeFromOrigin(name, keep),
  };
}

/**
 * The status of an adapter not started yet: stopped and down, since now (on
 * the system clock, as no hop clock is known yet), without an error. Until its
 * hop starts it an adapter has no tracker ({@link HopContext.status}), so its
 * `status()` reads `this.#ctx?.status.get() ?? notStarted(this)`.
 */
export function notStarted(adapter: Pick<Adapter, "name" | "kind">): AdapterStatus {
  return {
    name: adapter.name,
    kind: adapter.kind,
    run: "stopped",
    connection: "down",
    since: Date.now(),
    lastError: null,
  };
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
  /** Updates the adapter applied through its context's `apply`: a plain field, counted on the hot path. */
  updates = 0;
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

  /** A copy of the current status, with the updates applied so far. */
  get(): AdapterStatus {
    return { ...this.#status, counters: { updates_applied: this.updates } };
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

  /** Sets or clears (`null`) the short note shown on the status line. */
  detail(text: string | null): void {
    if (text === null) delete this.#status.detail;
    else this.#status.detail = text;
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

/**
 * An adapter whose implementation, and the heavy library behind it, is loaded
 * when the hop starts it, so a hop that does not use it never loads the
 * library (a protocol stack can take a second and a hundred MB to load).
 * `load` must reach the implementation through a dynamic `import()` of a
 * static string, which `deno compile` includes:
 *
 * ```ts ignore
 * new LazyAdapter("modbus:plc1", "modbus", async () => {
 *   const { ModbusSource } = await import("./modbus_source.ts");
 *   return new ModbusSource(config);
 * });
 * ```
 *
 * The loaded adapter is started with the wrapper's context, so both share the
 * status tracker the hop made for the wrapper's name. A wrapper routes writes
 * only if made `{ writes: true }` (the hop refuses writes to adapters without
 * `write`, before anything is loaded).
 */
export class LazyAdapter<T extends Adapter = Adapter> implements Adapter {
  readonly name: string;
  readonly kind: string;
  /** Present when made `{ writes: true }`: forwards to the loaded adapter. */
  readonly write?: (request: WriteRequest) => Promise<StatusCode>;
  #load: () => Promise<T>;
  #loaded: T | null = null;
  #starting: Promise<void> | null = null;

  /** An adapter `name` of `kind` that `load`s its implementation when started. */
  constructor(
    name: string,
    kind: string,
    load: () => Promise<T>,
    options: { writes?: boolean } = {},
  ) {
    this.name = name;
    this.kind = kind;
    this.#load = load;
    if (options.writes) {
      this.write = (request) => {
        const loaded = this.#loaded;
        if (!loaded?.write) return Promise.reject(new Error(`${this.name} cannot write yet`));
        return loaded.write(request);
      };
    }
  }

  /** The loaded implementation; `null` until started. */
  get loaded(): T | null {
    return this.#loaded;
  }

  /** Loads the implementation, then starts it with this context. */
  start(ctx: HopContext): Promise<void> {
    this.#starting = (async () => {
      this.#loaded = await this.#load();
      await this.#loaded.start(ctx);
    })();
    return this.#starting;
  }

  /** A stop that arrives while starting (SIGTERM during startup) waits for the start, then undoes it. */
  async stop(): Promise<void> {
    await this.#starting?.catch(() => {});
    await this.#loaded?.stop();
  }

  /** The loaded adapter's status; before, stopped and down. */
  status(): AdapterStatus {
    return this.#loaded?.status() ?? notStarted(this);
  }
}
