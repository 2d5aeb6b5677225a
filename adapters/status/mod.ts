/**
 * The status endpoint: an optional, read-only HTTP server per hop
 * (`--status-http <host:port>`) with `/healthz`, `/readyz` and `/metrics`
 * in the Prometheus text format. Loopback only unless
 * `--status-http-public`; it speaks plain HTTP (no TLS or client
 * certificates yet).
 *
 * @module
 */
import type { Adapter, HopConfig, Plugin } from "../../core/mod.ts";
import { formatHostPort } from "../../core/mod.ts";
import { statusOptions } from "./options.ts";
import { StatusHttpAdapter } from "./status_http.ts";

export { exposition, type Family, hopMetrics, type Sample } from "./metrics.ts";
export { StatusHttpAdapter } from "./status_http.ts";
export type { StatusConfig } from "./options.ts";

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
