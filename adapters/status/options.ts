/** Options of the status endpoint. */
import { flag, hostPort, option, type OptionValues } from "../../core/mod.ts";

/** The status endpoint's options: where it listens, and whether off loopback. */
export const statusOptions = {
  statusHttp: option(hostPort().optional(), {
    group: "Status",
    arg: "<host:port>",
    help:
      "Serve read-only /healthz, /readyz and /metrics (Prometheus) over plain HTTP on this address; loopback only unless --status-http-public",
  }),
  statusHttpPublic: option(flag(), {
    group: "Status",
    help:
      "Allow --status-http on a non-loopback address (plain HTTP: no TLS or client certificates yet)",
  }),
};

/** The status endpoint's settings. */
export type StatusConfig = OptionValues<typeof statusOptions>;

declare module "../../core/config/mod.ts" {
  /** The status endpoint's settings are part of every hop's configuration. */
  interface HopConfig extends StatusConfig {}
}
