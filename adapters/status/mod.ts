/**
 * The status endpoint: an optional, read-only HTTP server per hop
 * (`--status-http <host:port>`) with a live status page at `/`, `/healthz`,
 * `/readyz` and `/metrics` in the Prometheus text format. Plain HTTP on
 * loopback; on any other address HTTPS answering only clients with a
 * certificate from the chain's CA, unless `--status-http-public` asks for
 * plain HTTP there on purpose (and the hop warns loudly).
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
 * assert(text.includes('hopgate_points{origin="plant1",status_class="good"} 1\n'));
 * assert(text.includes('hopgate_points{origin="plant1",status_class="bad"} 1\n'));
 * assert(text.includes("# TYPE hopgate_updates_applied_total counter\n"));
 *
 * // Off loopback, the endpoint needs more than plain HTTP (see --status-http-public).
 * assert(isLoopback("127.0.0.1") && !isLoopback("0.0.0.0"));
 * ```
 */
import type { Adapter, HopConfig, Plugin } from "../../core/mod.ts";
import { formatHostPort } from "../../core/mod.ts";
import type {} from "../../tunnel/options.ts";
import { tunnelCerts, usesTunnel } from "../../tunnel/mod.ts";
import { isLoopback, statusOptions } from "./options.ts";

export { isLoopback };
import { StatusHttpAdapter } from "./status_http.ts";

export { exposition, type Family, hopMetrics, type MetricsInput, type Sample } from "./metrics.ts";
export { StatusHttpAdapter } from "./status_http.ts";
export type { CertInfo as CertificateInfo } from "./status_info.ts";
export { type StatusConfig, statusOptions } from "./options.ts";

/**
 * Whether the endpoint speaks HTTPS with client certificates: when asked, and
 * on every non-loopback address unless plain HTTP is chosen there on purpose.
 */
export function statusTls(c: HopConfig): boolean {
  const a = c.statusHttp;
  if (!a) return false;
  return c.statusHttpTls || (!isLoopback(a.host) && !c.statusHttpPublic);
}

/** The rules of the status endpoint's options. */
function statusChecks(c: HopConfig): string[] {
  if (c.statusHttpTls && c.statusHttpPublic) {
    return [
      "--status-http-tls and --status-http-public are alternatives (HTTPS with client certificates, or plain HTTP for anyone): pass one",
    ];
  }
  if ((c.statusHttpTls || c.statusHttpPublic) && !c.statusHttp) {
    return [
      `--status-http-${c.statusHttpTls ? "tls" : "public"} needs --status-http <host:port>`,
    ];
  }
  return [];
}

/** The status endpoint plugin (adapters/all.ts registers it). */
export const statusPlugin: Plugin = {
  name: "status",
  options: statusOptions,
  // The endpoint reports on a hop's work and is none: it alone does not make a hop worth starting.
  activatedBy: "",
  active: () => false,
  checks: statusChecks,
  files(c) {
    if (!statusTls(c)) return [];
    const hint =
      `or create it with: hopgate certs issue ${c.name} (the status endpoint's HTTPS serves it)`;
    return [["tlsCert", hint], ["tlsKey", hint], ["tlsCa", "or copy the chain's CA there"]];
  },
  permissions: (c) => {
    if (!c.statusHttp) return {};
    const net = [formatHostPort(c.statusHttp)];
    return statusTls(c) ? { net, read: [c.tlsCert!, c.tlsKey!, c.tlsCa!] } : { net };
  },
  adapters(c): Adapter[] {
    if (!c.statusHttp) return [];
    const endpoint = new StatusHttpAdapter(c.statusHttp, statusTls(c));
    // A hop without links has no watch of its certificate files: the endpoint's HTTPS brings one,
    // so that it follows renewals (and their expiry points exist) there too.
    return statusTls(c) && !usesTunnel(c) ? [tunnelCerts(c), endpoint] : [endpoint];
  },
};
