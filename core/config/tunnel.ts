/** Options of the hop tunnel: listening, dialling, certificates, timers, limits. */
import { z } from "zod";
import {
  byteSize,
  duration,
  filePath,
  type HostPort,
  int,
  option,
  parseHostPort,
  repeated,
  stringList,
} from "./_option.ts";
import { hopNamePattern } from "./general.ts";

/** One outgoing link: the hop it must reach and the addresses to try in turn. */
export interface LinkTarget {
  peer: string;
  addresses: HostPort[];
}

/** `dmz=10.0.0.5:7000,10.0.0.6:7000`: a dialled link names the hop its certificate must show. */
export function linkTarget() {
  return z.string().transform((text, ctx): LinkTarget => {
    const eq = text.indexOf("=");
    const peer = eq < 0 ? "" : text.slice(0, eq).trim();
    const addrs = (eq < 0 ? text : text.slice(eq + 1)).split(",").map((a) => a.trim());
    const parsed = addrs.map(parseHostPort);
    if (!hopNamePattern.test(peer)) {
      ctx.issues.push({
        code: "custom",
        input: text,
        message:
          `"${text}" does not name the hop to reach: write <hop>=<host:port>[,<host:port>...], for example dmz=10.0.0.5:7000`,
      });
      return z.NEVER;
    }
    const bad = addrs.find((_, i) => parsed[i] === null);
    if (bad !== undefined) {
      ctx.issues.push({
        code: "custom",
        input: text,
        message: `"${bad}" in "${text}" is not host:port (for example 10.0.0.5:7000)`,
      });
      return z.NEVER;
    }
    return { peer, addresses: parsed as HostPort[] };
  });
}

export const tunnelOptions = {
  listen: option(
    z.string().transform((t, ctx) => {
      const hp = parseHostPort(t);
      if (hp) return hp;
      ctx.issues.push({
        code: "custom",
        input: t,
        message: `"${t}" is not host:port (for example 0.0.0.0:7000)`,
      });
      return z.NEVER;
    }).optional(),
    {
      group: "Tunnel",
      arg: "<host:port>",
      help: "Accept links from the hops named in --peers on this address",
    },
  ),
  push: option(repeated(linkTarget()).default([]), {
    group: "Tunnel",
    arg: "<hop=host:port,...>",
    repeatable: true,
    help: "Dial a hop and send it this hop's data set; addresses are tried in turn (repeatable)",
  }),
  pull: option(repeated(linkTarget()).default([]), {
    group: "Tunnel",
    arg: "<hop=host:port,...>",
    repeatable: true,
    help: "Dial a hop and receive its data set; addresses are tried in turn (repeatable)",
  }),
  peers: option(stringList().default([]), {
    group: "Tunnel",
    arg: "<hop,...>",
    help: "Hops whose certificates the listener accepts",
  }),
  tlsCert: option(filePath().optional(), {
    path: true,
    group: "Tunnel",
    arg: "<file>",
    help: "This hop's certificate (PEM), issued by the chain's CA",
    defaultText: "<data-dir>/certs/<name>.crt",
  }),
  tlsKey: option(filePath().optional(), {
    path: true,
    group: "Tunnel",
    arg: "<file>",
    help: "This hop's private key (PEM)",
    defaultText: "<data-dir>/certs/<name>.key",
  }),
  tlsCa: option(filePath().optional(), {
    path: true,
    group: "Tunnel",
    arg: "<file>",
    help: "The chain's CA certificate (PEM) that peers must be issued by",
    defaultText: "<data-dir>/certs/ca.crt",
  }),
  heartbeat: option(duration().default(1000), {
    group: "Tunnel",
    arg: "<duration>",
    help: "Interval of heartbeats sent on every link",
  }),
  linkTimeout: option(duration().default(5000), {
    group: "Tunnel",
    arg: "<duration>",
    help: "A link silent for this long is dead even if TCP has not noticed",
  }),
  maxLinks: option(int(1, 10_000).default(16), {
    group: "Tunnel",
    arg: "<n>",
    help: "Most links the listener holds at once; more are refused",
  }),
  maxFrame: option(byteSize().default(4 * 1024 * 1024), {
    group: "Tunnel",
    arg: "<size>",
    help: "Largest frame accepted from a peer; a larger one closes the link",
  }),
  writeTimeout: option(duration().default(10_000), {
    group: "Tunnel",
    arg: "<duration>",
    help: "How long a write request waits for its result before failing with BadTimeout",
  }),
};
