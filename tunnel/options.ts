/** Options of the hop tunnel: listening, dialling, certificates, timers, limits. */
import { z } from "zod";
import {
  byteSize,
  type Cidr,
  duration,
  filePath,
  hopNamePattern,
  type HostPort,
  int,
  option,
  type OptionValues,
  parseCidr,
  parseHostPort,
  repeated,
  stringList,
} from "../core/mod.ts";

/**
 * What a peer may do on a link it dials into this hop's listener: `push` its
 * own data set (and that of the origins it relays), `pull` this hop's data set
 * and send write requests, or `watch` (pull without writes).
 */
export type PeerRole = "push" | "pull" | "watch";

/** A peer the listener accepts, with the role it is bound to. */
export interface PeerSpec {
  /** The hop name its certificate must carry. */
  name: string;
  /** What it may do on its link. */
  role: PeerRole;
  /** Origins (first id segments) besides its own that a push peer may carry. */
  relays: string[];
  /** Written without a role: read as `watch`, the least a peer can do. */
  bare: boolean;
}

const peerExample = "plant1:push, it:pull, ops:watch or plant1:push:relays=plant0+plant3";

/** `plant1:push:relays=plant0+plant3`, `it:pull`, `ops:watch`; a bare name means `watch`. */
export function peerSpec() {
  return z.string({ error: "expected a peer such as plant1:push" }).transform(
    (text, ctx): PeerSpec => {
      const parts = text.trim().split(":");
      const fail = (why: string) => {
        ctx.issues.push({
          code: "custom",
          input: text,
          message: `"${text}" ${why} (${peerExample})`,
        });
        return z.NEVER;
      };
      const [name = "", role = "", extra, ...rest] = parts;
      if (!hopNamePattern.test(name)) return fail("does not start with a hop name");
      if (parts.length === 1) return { name, role: "watch", relays: [], bare: true };
      if (role !== "push" && role !== "pull" && role !== "watch") {
        return fail(`has role "${role}"; a peer's role is push, pull or watch`);
      }
      let relays: string[] = [];
      if (extra !== undefined) {
        if (role !== "push" || rest.length > 0 || !extra.startsWith("relays=")) {
          return fail("has more than a name and a role; only a push peer takes relays=<hop>+<hop>");
        }
        relays = extra.slice("relays=".length).split("+").map((r) => r.trim());
        const bad = relays.find((r) => !hopNamePattern.test(r));
        if (bad !== undefined) return fail(`relays "${bad}", which is not a hop name`);
      }
      return { name, role, relays, bare: false };
    },
  );
}

/** One outgoing link: the hop it must reach and the addresses to try in turn. */
export interface LinkTarget {
  /** The hop name its certificate must carry. */
  peer: string;
  /** The addresses to try, in turn. */
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

/** The tunnel's options: listening, dialling, certificates, timers, limits. */
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
  peers: option(z.preprocess((v) => stringList().parse(v), z.array(peerSpec())).default([]), {
    group: "Tunnel",
    arg: "<hop:role,...>",
    help:
      "Hops whose certificates the listener accepts, each with its role: push (sends its data; relays=<hop>+<hop> for origins it relays), pull (receives the set, may request writes) or watch (receives only; a bare name means watch)",
  }),
  allowFrom: option(
    stringList().default([]).transform((list, ctx) => {
      const out: Cidr[] = [];
      for (const t of list) {
        const c = parseCidr(t);
        if (c) out.push(c);
        else {
          ctx.issues.push({
            code: "custom",
            input: t,
            message: `"${t}" is not an address or network (for example 10.10.0.0/24 or 10.10.0.7)`,
          });
        }
      }
      return out;
    }),
    {
      group: "Tunnel",
      arg: "<addr[/bits],...>",
      help: "Addresses the listener accepts connections from; others are closed unread",
      defaultText: "any",
    },
  ),
  handshakeTimeout: option(duration().default(3000), {
    group: "Tunnel",
    arg: "<duration>",
    help: "A connection must finish its TLS handshake within this; longer ones are closed",
  }),
  maxUnauthenticated: option(int(1, 10_000).default(64), {
    group: "Tunnel",
    arg: "<n>",
    help:
      "Most connections the listener holds in their TLS handshake at once, apart from its links",
  }),
  maxUnauthenticatedPerAddress: option(int(1, 10_000).default(4), {
    group: "Tunnel",
    arg: "<n>",
    help: "Most connections one remote address may hold in their TLS handshake at once",
  }),
  maxPoints: option(int(1, 100_000_000).default(1_000_000), {
    group: "Tunnel limits",
    arg: "<n>",
    help: "Most points this hop holds; a link that would add more is closed",
  }),
  maxLinkPoints: option(int(1, 100_000_000).default(500_000), {
    group: "Tunnel limits",
    arg: "<n>",
    help: "Most points one link may define; a peer that defines more is disconnected",
  }),
  maxId: option(int(16, 65_536).default(1024), {
    group: "Tunnel limits",
    arg: "<bytes>",
    help: "Longest point id (UTF-8 bytes), and longest text in a failure cause, a link accepts",
  }),
  maxHops: option(int(2, 64).default(16), {
    group: "Tunnel limits",
    arg: "<n>",
    help: "Longest hop path a link accepts (hops a point has travelled)",
  }),
  maxValue: option(byteSize().default(256 * 1024), {
    group: "Tunnel limits",
    arg: "<size>",
    help:
      "Largest value (string, bytes or array) a link accepts or sends; a larger one travels as Bad without its value",
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
};

/** The tunnel's settings, with the certificate paths resolved. */
export type TunnelConfig =
  & Omit<OptionValues<typeof tunnelOptions>, "tlsCert" | "tlsKey" | "tlsCa">
  & {
    tlsCert: string;
    tlsKey: string;
    tlsCa: string;
  };

declare module "../core/config/mod.ts" {
  /** The tunnel's settings are part of every hop's configuration. */
  interface HopConfig extends TunnelConfig {}
}
