/**
 * The hop runtime: starts a hop's adapters around its point store, routes
 * writes toward their origin under this hop's write policy, reports status,
 * and shuts down gracefully with sinks flushed.
 */
import {
  type Adapter,
  adapterContext,
  type AdapterStatus,
  type HopContext,
  startLoadWaitMs,
  type WriteRequest,
} from "./adapter.ts";
import { CertWatch, type HeldCertificate } from "./cert_watch.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { HopConfig } from "./config/mod.ts";
import { logger } from "./log.ts";
import {
  lastResortCollection,
  type MemoryRelease,
  regularCollection,
  startMemoryRelease,
} from "./memory_release.ts";
import { valueProblem } from "./point.ts";
import { PointStore } from "./point_store.ts";
import { isBad, Status, type StatusCode, statusName } from "./status.ts";
import { writePolicy } from "./write_policy.ts";

/** One running hop: its store and its adapters. */
export class Hop {
  /** The validated configuration it runs. */
  readonly config: HopConfig;
  /** Its mirror of the whole data set. */
  readonly store: PointStore;
  #adapters: Adapter[];
  #clock: Clock;
  #abort = new AbortController();
  #writable: (id: string) => boolean;
  #log = logger("hop");
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  /** The memory release, once the hop runs with `--expose-gc` and has started. */
  #release: MemoryRelease | null = null;
  /** Collections adapters asked for (`releaseMemory`) before the memory release started; null after. */
  #releaseAsked: string[] | null = [];
  /** One-off loads adapters announced at their start (`startLoad`) that are not in yet. */
  #startLoads = new Set<string>();
  /** The start-up collection's longest wait for {@link #startLoads}; 0 while it does not wait. */
  #startLoadsTimer = 0;
  #adaptersStopped: Promise<void> | null = null;
  /** Write results by status name: writes are rare, a map is cheap here. */
  #writeResults = new Map<string, number>();

  /** A hop of `adapters`, started and stopped in order, with unique names; nothing runs before `start`. */
  constructor(config: HopConfig, adapters: Adapter[], options: { clock?: Clock } = {}) {
    this.config = config;
    this.store = new PointStore(config.name);
    this.#adapters = adapters;
    this.#clock = options.clock ?? systemClock;
    this.#writable = writePolicy(config.writable);
    const names = new Set<string>();
    for (const a of adapters) {
      if (names.has(a.name)) throw new Error(`Two adapters are named "${a.name}"`);
      names.add(a.name);
    }
  }

  /** Aborted once the hop stops. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Every adapter's status. */
  statuses(): AdapterStatus[] {
    return this.#adapters.map((a) => a.status());
  }

  /**
   * The certificates its certificate watches use now (after their last
   * accepted reload), by watch in adapter order.
   */
  certificates(): HeldCertificate[] {
    return this.#adapters.flatMap((a) => a instanceof CertWatch ? a.certificates() : []);
  }

  /**
   * Starts every adapter; a failure stops those already started and rethrows.
   * A stop requested meanwhile lets the adapter being started finish, then
   * starts no more.
   */
  start(): Promise<void> {
    this.#starting ??= (async () => {
      await Deno.mkdir(this.config.dataDir, { recursive: true });
      for (const a of this.#adapters) {
        if (this.#abort.signal.aborted) return;
        try {
          await a.start(this.#context(a));
        } catch (e) {
          this.#abort.abort(new Error(`adapter ${a.name} failed to start`));
          await this.#stopAdapters(`adapter ${a.name} failed to start`);
          throw e;
        }
      }
    })();
    return this.#starting;
  }

  /**
   * Stops adapters in start order (sources before sinks, see adapters/all.ts),
   * so the last updates reach the sinks before they flush.
   */
  stop(reason = "stop requested"): Promise<void> {
    this.#abort.abort(new Error(reason));
    // A hop stopped before its start-up loads are in is not kept alive by that wait.
    this.#clock.clearTimeout(this.#startLoadsTimer);
    this.#startLoadsTimer = 0;
    this.#stopping ??= (async () => {
      await this.#starting?.catch(() => {});
      await this.#stopAdapters(reason);
    })();
    return this.#stopping;
  }

  #stopAdapters(reason: string): Promise<void> {
    this.#adaptersStopped ??= (async () => {
      this.#log.info("Stopping: {reason}", { reason });
      for (const a of this.#adapters) {
        try {
          await a.stop();
        } catch (e) {
          this.#log.error("Adapter {name} did not stop cleanly: {error}", {
            name: a.name,
            error: (e as Error).message,
          });
        }
      }
    })();
    return this.#adaptersStopped;
  }

  /** Write requests this hop routed, by the name of their result, since start. */
  writeResults(): Record<string, number> {
    return Object.fromEntries(this.#writeResults);
  }

  /**
   * Routes a write toward the point's origin: this hop's policy first, then
   * the point's state, then the adapter that delivered the point.
   */
  async write(request: WriteRequest): Promise<StatusCode> {
    const result = await this.#route(request);
    const name = statusName(result);
    this.#writeResults.set(name, (this.#writeResults.get(name) ?? 0) + 1);
    return result;
  }

  async #route(request: WriteRequest): Promise<StatusCode> {
    const via = [...request.via, this.config.name];
    const refuse = (code: StatusCode, why: string) => {
      this.#log.warn("Write to {id} refused: {why} ({status})", {
        id: request.id,
        why,
        status: statusName(code),
      });
      return code;
    };
    if (!this.#writable(request.id)) {
      return refuse(Status.BadNotWritable, `not allowed by --writable on ${this.config.name}`);
    }
    const point = this.store.get(request.id);
    if (!point) return refuse(Status.BadNodeIdUnknown, "no such point");
    if (isBad(point.status)) return refuse(point.status, "the point's status is bad");
    const problem = valueProblem(point.type, request.value);
    if (problem) return refuse(Status.BadTypeMismatch, problem);
    const adapter = this.#adapters.find((a) => a.name === point.origin);
    if (!adapter?.write) return refuse(Status.BadNotWritable, `${point.origin} cannot write`);
    const timeout = this.config.writeTimeout;
    let timer = 0;
    const timedOut = new Promise<StatusCode>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve(Status.BadTimeout), timeout);
    });
    try {
      const result = await Promise.race([adapter.write({ ...request, via }), timedOut]);
      this.#log.info("Write to {id} by {requester}: {status}", {
        id: request.id,
        requester: via[0],
        status: statusName(result),
      });
      return result;
    } catch (e) {
      return refuse(Status.BadInternalError, (e as Error).message);
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  /**
   * Runs until SIGINT or SIGTERM (or `signal`), surviving SIGHUP, logging a status line every
   * `--status-interval` and giving memory back when it goes quiet after a load (a process
   * run with `--expose-gc`, as hops are); resolves after a graceful stop.
   */
  async runUntilStopped(signal?: AbortSignal): Promise<void> {
    const stop = (why: string) => void this.stop(why);
    const handlers: [Deno.Signal, () => void][] = [
      ["SIGINT", () => stop("SIGINT")],
      ["SIGTERM", () => stop("SIGTERM")],
      // SIGHUP makes the adapters that hold certificate files read them again (CertWatch); a
      // hop without any ignores it rather than being ended by the signal's default action.
      ["SIGHUP", () => {}],
    ];
    for (const [sig, h] of handlers) {
      try {
        Deno.addSignalListener(sig, h);
      } catch {
        // SIGTERM cannot be listened to on Windows; Ctrl+C (SIGINT) still works.
      }
    }
    signal?.addEventListener("abort", () => stop("aborted"), { once: true });
    try {
      await this.start();
      const collect = lastResortCollection();
      if (collect && !this.#abort.signal.aborted) {
        const waiting = [...this.#startLoads];
        this.#release = startMemoryRelease({
          clock: this.#clock,
          updates: () => this.store.stats().updates,
          heapBytes: () => Deno.memoryUsage().heapTotal,
          collect,
          signal: this.#abort.signal,
          log: this.#log,
          collectAtStart: waiting.length === 0,
        });
        if (waiting.length > 0) {
          this.#log.info("Start-up collection put off until {loads} in", {
            loads: waiting.join(", "),
          });
          this.#startLoadsTimer = this.#clock.setTimeout(
            () =>
              this.#collectAfterStartLoads(
                `Started, ${[...this.#startLoads].join(", ")} still not in after ${
                  startLoadWaitMs / 1000
                } s`,
              ),
            startLoadWaitMs,
          );
        }
        // What an adapter asked to give back before now goes with the start-up collection.
        for (const when of this.#releaseAsked ?? []) {
          this.#log.info("{when}: its heap goes with the start-up collection", { when });
        }
      }
      // From now on a request is served at once, or dropped without a memory release.
      this.#releaseAsked = null;
      await this.#runStatusLines();
      await this.#stopping;
    } finally {
      for (const [sig, h] of handlers) {
        try {
          Deno.removeSignalListener(sig, h);
        } catch { /* not registered on this platform */ }
      }
    }
  }

  /** Logs a status line every `--status-interval` until the hop stops. */
  async #runStatusLines(): Promise<void> {
    let last = this.store.stats().updates;
    let lastAt = this.#clock.now();
    const interval = this.config.statusInterval;
    const tick = () => {
      const now = this.#clock.now();
      const s = this.store.stats();
      const rate = Math.round((s.updates - last) / Math.max(0.001, (now - lastAt) / 1000));
      last = s.updates;
      lastAt = now;
      const m = Deno.memoryUsage();
      const mb = (x: number) => Math.round(x / 1048576);
      this.#log.info(
        "Status: {points} points, {rate} updates/s; {adapters}; memory: RSS {rss} MB, heap {heap} of {heapTotal} MB, external {external} MB",
        {
          points: s.points,
          rate,
          adapters: this.statuses().map(formatStatus).join("; "),
          rss: mb(m.rss),
          heap: mb(m.heapUsed),
          heapTotal: mb(m.heapTotal),
          external: mb(m.external),
        },
      );
      if (!this.#abort.signal.aborted) timer = this.#clock.setTimeout(tick, interval);
    };
    let timer = interval > 0 ? this.#clock.setTimeout(tick, interval) : 0;
    if (!this.#abort.signal.aborted) {
      await new Promise<void>((resolve) =>
        this.#abort.signal.addEventListener("abort", () => resolve(), { once: true })
      );
    }
    this.#clock.clearTimeout(timer);
  }

  /**
   * What the hop gives `a` as it starts it: its services, and the adapter's own
   * status tracker on the hop's clock and store operations bound to its name.
   */
  #context(a: Adapter): HopContext {
    return adapterContext(a, {
      hop: this.config.name,
      config: this.config,
      store: this.store,
      clock: this.#clock,
      signal: this.#abort.signal,
      log: logger(a.kind, a.name),
      write: (r) => this.write(r),
      statuses: () => this.statuses(),
      writeResults: () => this.writeResults(),
      certificates: () => this.certificates(),
      certWatch: (set) =>
        this.#adapters.find((a): a is CertWatch =>
          a instanceof CertWatch && a.name === `certs:${set}`
        ),
      startLoad: (what) => {
        if (this.#releaseAsked === null) return () => {};
        const load = `${what} (${a.name})`;
        this.#startLoads.add(load);
        return () => {
          if (this.#startLoads.delete(load) && this.#startLoads.size === 0) {
            this.#collectAfterStartLoads("Started, first data in");
          }
        };
      },
      releaseMemory: (when) => {
        // A source may be subscribed before the hop has started (a small PLC answers at once).
        if (this.#release) this.#release.collectNow(when);
        else this.#releaseAsked?.push(when);
      },
    });
  }

  /**
   * The start-up collection put off for the loads adapters announced
   * (`startLoad`): once they are in, or after {@link startLoadWaitMs}. A
   * regular collection, as data may be flowing by then (see
   * `regularCollection`); nothing once the hop is stopping or has run it.
   */
  #collectAfterStartLoads(when: string): void {
    if (this.#startLoadsTimer === 0) return;
    this.#clock.clearTimeout(this.#startLoadsTimer);
    this.#startLoadsTimer = 0;
    this.#release?.collectNow(when, regularCollection() ?? undefined);
  }
}

/** `sim running/connected` or `link:dmz running/down (connection refused)`. */
export function formatStatus(s: AdapterStatus): string {
  const err = s.lastError && s.connection !== "connected" ? ` (${s.lastError})` : "";
  return `${s.name} ${s.run}/${s.connection}${err}${s.detail ? ` [${s.detail}]` : ""}`;
}
