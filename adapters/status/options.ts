/** Options of the status endpoint. */
import { flag, hostPort, option, type OptionValues } from "../../core/mod.ts";

/** The status endpoint's options: where it listens, and whether off loopback. */
export const statusOptions = {
  statusHttp: option(hostPort().optional(), {
    group: "Status",
    arg: "<host:port>",
    help:
      "Serve the read-only status page, /healthz, /readyz and /metrics (Prometheus) on this address: plain HTTP on loopback, HTTPS with client certificates elsewhere",
  }),
  statusHttpTls: option(flag(), {
    group: "Status",
    help:
      "Serve --status-http over HTTPS with this hop's --tls-cert and --tls-key, answering only clients with a certificate from the chain's CA (--tls-ca); always so on a non-loopback address unless --status-http-public",
  }),
  statusHttpPublic: option(flag(), {
    group: "Status",
    help:
      "Serve --status-http on a non-loopback address over plain HTTP, without client certificates: anyone who reaches it reads the hop's status",
  }),
};

/** True for a loopback host: 127.0.0.0/8, ::1 or `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The status endpoint's settings. */
export type StatusConfig = OptionValues<typeof statusOptions>;

declare module "../../core/config/mod.ts" {
  /** The status endpoint's settings are part of every hop's configuration. */
  interface HopConfig extends StatusConfig {}
}
