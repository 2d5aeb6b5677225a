/**
 * The status page's live feed: server-sent events to at most
 * {@link maxEventClients} browsers at once. Changes are coalesced: every
 * {@link eventIntervalMs} the hop is checked, and a view is computed and sent
 * only when something changed (or a second passed, for the rates), once per
 * distinct search. A view is a pass over the store (about 20 ms for 100,000
 * points here): views come at most at a fifth of the event loop's time,
 * further apart on a large hop. A client that does not keep up misses views
 * instead of queueing them, so memory stays bounded whatever the clients do.
 */
import type { AdapterStatus, Clock, PointStore, TimerId } from "../../core/mod.ts";
import type { StatusInfo } from "./status_info.ts";
import { statusView } from "./status_view.ts";

/** Most browsers fed at once; more are answered 503. */
export const maxEventClients = 8;
/** Least time between two views sent to a client. */
export const eventIntervalMs = 250;
/** Longest search text taken. */
const maxQuery = 200;

/** What the feed reads, all read-only. */
export interface EventSources {
  hop: string;
  store: PointStore;
  clock: Clock;
  statuses(): AdapterStatus[];
  info(): Promise<StatusInfo>;
  /**
   * Changes when `info` would (a certificate renewed): the clients then get
   * it again. Cheap, as it is read at every check while a client is fed.
   */
  infoKey?(): string;
}

interface Client {
  query: string;
  controller: ReadableStreamDefaultController<Uint8Array>;
}

const encoder = new TextEncoder();

function event(name: string, data: unknown): Uint8Array {
  return encoder.encode(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** Updates per second of each adapter, from its `updates_applied` or `points_received`. */
function updateCount(s: AdapterStatus): number {
  const c = s.counters ?? {};
  return (c.updates_applied ?? 0) + (c.points_received ?? 0);
}

/** The feed of one status endpoint. */
export class StatusEvents {
  #src: EventSources;
  #clients = new Set<Client>();
  #timer: TimerId = 0;
  #lastSignature = "";
  #lastSent = 0;
  #lastInfoKey: string | null = null;
  /** When the last views were built and how long that took (performance.now(), ms). */
  #builtAt = 0;
  #buildMs = 0;
  /** The previous sample of every adapter's update count, for the rates. */
  #sample: { at: number; counts: Map<string, number> } | null = null;
  #rates: Record<string, number> = {};

  constructor(src: EventSources) {
    this.#src = src;
  }

  /** Clients connected now. */
  get clients(): number {
    return this.#clients.size;
  }

  /** A new client's response: the info, the view now, then coalesced views; 503 beyond the cap. */
  open(query: string): Response {
    if (this.#clients.size >= maxEventClients) {
      return new Response(
        `too many status page clients (at most ${maxEventClients} at once); close one and retry\n`,
        { status: 503, headers: { "retry-after": "5", "content-type": "text/plain" } },
      );
    }
    const q = query.slice(0, maxQuery);
    let client: Client | null = null;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        client = { query: q, controller };
        this.#clients.add(client);
        // The browser retries after 2 s when the hop goes away.
        controller.enqueue(encoder.encode("retry: 2000\n\n"));
        this.#lastInfoKey ??= this.#src.infoKey?.() ?? "";
        this.#src.info().then(
          (info) => this.#send(client!, event("info", info)),
          () => {},
        );
        const statuses = this.#src.statuses();
        this.#send(client, event("view", this.#view(q, statuses)));
        if (this.#clients.size === 1) {
          // The only client has the hop as it is now: the next view waits for a change.
          this.#lastSignature = this.#signature(statuses);
          this.#lastSent = this.#src.clock.now();
        }
        this.#arm();
      },
      cancel: () => {
        if (client) this.#clients.delete(client);
      },
    }, { highWaterMark: 4 });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
      },
    });
  }

  /** Ends every stream and the timer. */
  close(): void {
    this.#src.clock.clearTimeout(this.#timer);
    this.#timer = 0;
    for (const c of this.#clients) {
      try {
        c.controller.close();
      } catch { /* already closed */ }
    }
    this.#clients.clear();
  }

  #arm(): void {
    if (this.#timer !== 0 || this.#clients.size === 0) return;
    this.#timer = this.#src.clock.setTimeout(() => {
      this.#timer = 0;
      this.#tick();
      this.#arm();
    }, eventIntervalMs);
  }

  #tick(): void {
    if (this.#clients.size === 0) return;
    const now = this.#src.clock.now();
    this.#checkInfo();
    const statuses = this.#src.statuses();
    this.#updateRates(statuses, now);
    const signature = this.#signature(statuses);
    if (signature === this.#lastSignature && now - this.#lastSent < 1000) return;
    const start = performance.now();
    if (start - this.#builtAt < 4 * this.#buildMs) return;
    this.#lastSignature = signature;
    this.#lastSent = now;
    const views = new Map<string, Uint8Array>();
    for (const c of this.#clients) {
      let bytes = views.get(c.query);
      if (bytes === undefined) {
        bytes = event("view", this.#view(c.query, statuses));
        views.set(c.query, bytes);
      }
      this.#send(c, bytes);
    }
    this.#builtAt = performance.now();
    this.#buildMs = this.#builtAt - start;
  }

  /** Sends the info again to every client when it changed (a certificate renewed). */
  #checkInfo(): void {
    const key = this.#src.infoKey?.() ?? "";
    if (this.#lastInfoKey === null || key === this.#lastInfoKey) return;
    this.#lastInfoKey = key;
    this.#src.info().then((info) => {
      const bytes = event("info", info);
      for (const c of this.#clients) this.#send(c, bytes);
    }, () => {});
  }

  /** What changes when the page would: the store's counters and every adapter's state. */
  #signature(statuses: AdapterStatus[]): string {
    const stats = this.#src.store.stats();
    return `${stats.updates} ${stats.removals} ${
      JSON.stringify(statuses.map((s) => [s.connection, s.run, s.since, s.lastError]))
    }`;
  }

  #updateRates(statuses: AdapterStatus[], now: number): void {
    const prev = this.#sample;
    if (prev !== null && now - prev.at < 1000) return;
    const counts = new Map(statuses.map((s) => [s.name, updateCount(s)]));
    if (prev !== null) {
      const rates: Record<string, number> = {};
      const seconds = (now - prev.at) / 1000;
      for (const [name, n] of counts) {
        const before = prev.counts.get(name);
        if (before !== undefined) rates[name] = Math.round((n - before) / seconds);
      }
      this.#rates = rates;
    }
    this.#sample = { at: now, counts };
  }

  #view(query: string, statuses = this.#src.statuses()) {
    return statusView({
      hop: this.#src.hop,
      store: this.#src.store,
      statuses,
      rates: this.#rates,
      now: this.#src.clock.now(),
    }, query);
  }

  /** Sends unless the client is behind (it gets a later view instead); drops a closed one. */
  #send(c: Client, bytes: Uint8Array): void {
    try {
      if ((c.controller.desiredSize ?? 0) <= 0) return;
      c.controller.enqueue(bytes);
    } catch {
      this.#clients.delete(c);
    }
  }
}
