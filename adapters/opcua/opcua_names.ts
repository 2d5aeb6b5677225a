/**
 * The names a hop's OPC UA application certificates carry (see
 * opcua_certificate.ts). Light: `hopgate certs opcua` uses them without
 * loading node-opcua.
 */
import { isIP } from "node:net";
import type { HostPort } from "../../core/mod.ts";

/** What the hop's application certificate must say. */
export interface ApplicationNames {
  /** `urn:<host name>:hopgate:<hop>`: unique per hop and machine, as OPC UA asks. */
  applicationUri: string;
  /** `hopgate <hop>`: the application name in endpoint descriptions and sessions. */
  applicationName: string;
  /** `/CN=hopgate <hop>/O=hopgate`, node-opcua's subject notation. */
  subject: string;
  /** Host names in the subject alternative names, sorted. */
  dns: string[];
  /** IP addresses in the subject alternative names, sorted. */
  ips: string[];
}

/**
 * The names of a hop's certificate: the machine's host name (and, for the
 * server, the host names or addresses it listens on; every interface
 * address when it listens on all of them).
 */
export function applicationNames(
  hop: string,
  options: { listen?: HostPort; hostname?: string; interfaces?: () => string[] } = {},
): ApplicationNames {
  const hostname = options.hostname ?? Deno.hostname();
  const dns = new Set([hostname]);
  const ips = new Set<string>();
  const host = options.listen?.host;
  if (host === "0.0.0.0" || host === "::") {
    for (const address of options.interfaces?.() ?? []) ips.add(address);
  } else if (host !== undefined) {
    if (isIP(host)) ips.add(host);
    else dns.add(host);
  }
  return {
    applicationUri: `urn:${hostname}:hopgate:${hop}`,
    applicationName: `hopgate ${hop}`,
    subject: `/CN=hopgate ${hop}/O=hopgate`,
    dns: [...dns].sort(),
    ips: [...ips].sort(),
  };
}

/** The machine's interface addresses (IPv4 and IPv6, without zone ids), for a server on all interfaces. */
export function interfaceAddresses(): string[] {
  return Deno.networkInterfaces().map((i) => i.address.replace(/%.*$/, ""));
}
