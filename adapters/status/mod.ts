/**
 * The status endpoint: an optional, read-only HTTP server per hop
 * (`--status-http <host:port>`) with `/healthz`, `/readyz` and `/metrics`
 * in the Prometheus text format. Loopback only unless
 * `--status-http-public`; it speaks plain HTTP (no TLS or client
 * certificates yet).
 *
 * @module
 *
 * @example The metrics of a hop's store, as a Prometheus scrape reads them
 * ```ts
 * import { ok as assert } from "node:assert";
 * import { PointStore, Status } from "../../core/mod.ts";
 * import { exposition, hopMetrics, isLoopback } from "./mod.ts";
 *
 * const store = new PointStore("plant1");
 * const point = { value: 1, type: "Double" as const, time: 0, hops: [], cause: null };
 * store.apply({ ...point, id: "plant1/plc1/a", status: Status.Good }, "plc1");
 * store.apply({ ...point, id: "plant1/plc1/b", status: Status.BadNoCommunication }, "plc1");
 * const text = exposition(hopMetrics({
 *   hop: "plant1",
 *   store,
 *   statuses: [],
 *   version: "0.1.0",
 *   protocol: 1,
 *   memory: { rss: 0, heapUsed: 0 },
 * }));
 * assert(text.includes('hopgate_points{status_class="good"} 1\n'));
 * assert(text.includes('hopgate_points{status_class="bad"} 1\n'));
 * assert(text.includes("# TYPE hopgate_updates_applied_total counter\n"));
 *
 * // Off loopback, the endpoint needs more than plain HTTP (see --status-http-public).
 * assert(isLoopback("127.0.0.1") && !isLoopback("0.0.0.0"));
 * ```
 */
import type { Adapter, HopConfig, Plugin } from "../../core/mod.ts";
import { formatHostPort } from "../../core/mod.ts";
import { statusOptions } from "./options.ts";
import { StatusHttpAdapter } from "./status_http.ts";

export { exposition, type Family, hopMetrics, type MetricsInput, type Sample } from "./metrics.ts";
export { StatusHttpAdapter } from "./status_http.ts";
export { type StatusConfig, statusOptions } from "./options.ts";

/** True for a loopback host: 127.0.0.0/8, ::1 or `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The rules of the status endpoint's options. */
function statusChecks(c: HopConfig): string[] {
  const a = c.statusHttp;
  if (!a || isLoopback(a.host) || c.statusHttpPublic) return [];
  return [
    `--status-http ${
      formatHostPort(a)
    } is not a loopback address, and the endpoint is plain HTTP without client certificates: serve it on 127.0.0.1 (and scrape through a local agent), or pass --status-http-public to expose it on purpose`,
  ];
}

/** The status endpoint plugin (adapters/all.ts registers it). */
export const statusPlugin: Plugin = {
  name: "status",
  options: statusOptions,
  // The endpoint reports on a hop's work and is none: it alone does not make a hop worth starting.
  activatedBy: "",
  active: () => false,
  checks: statusChecks,
  permissions: (c) => (c.statusHttp ? { net: [formatHostPort(c.statusHttp)] } : {}),
  adapters: (c): Adapter[] => (c.statusHttp ? [new StatusHttpAdapter(c.statusHttp)] : []),
};
