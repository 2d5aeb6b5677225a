/** Options of the data diode: a one-way UDP link that needs no return path. */
import { z } from "zod";
import {
  byteSize,
  duration,
  filePath,
  hopNamePattern,
  type HostPort,
  hostPort,
  int,
  option,
  type OptionValues,
  parseHostPort,
  repeated,
  stringList,
} from "../../core/mod.ts";

/** One diode this hop sends into: the hop behind it and the address packets go to. */
export interface DiodeTarget {
  /** The hop behind the diode (its key file names it). */
  peer: string;
  /** Where packets go. */
  address: HostPort;
}

/** A hop whose packets the receiving side accepts, with the origins it may relay. */
export interface DiodePeer {
  /** The sending hop. */
  name: string;
  /** Origins (first id segments) besides its own that the peer may carry. */
  relays: string[];
}

/** `dmz=10.0.0.5:7100`. */
function diodeTarget() {
  return z.string().transform((text, ctx): DiodeTarget => {
    const eq = text.indexOf("=");
    const peer = text.slice(0, Math.max(0, eq)).trim();
    const address = parseHostPort(text.slice(eq + 1));
    if (eq < 0 || !hopNamePattern.test(peer) || address === null) {
      ctx.issues.push({
        code: "custom",
        input: text,
        message:
          `"${text}" is not <hop>=<host:port>: name the receiving hop and its UDP address, for example dmz=10.0.0.5:7100`,
      });
      return z.NEVER;
    }
    return { peer, address };
  });
}

/** `plant1` or `plant1:relays=plant0+plant3`. */
function diodePeer() {
  return z.string().transform((text, ctx): DiodePeer => {
    const [name = "", extra, ...rest] = text.trim().split(":");
    const relays = extra?.startsWith("relays=")
      ? extra.slice("relays=".length).split("+").map((r) => r.trim())
      : [];
    const ok = hopNamePattern.test(name) && rest.length === 0 &&
      (extra === undefined || (extra.startsWith("relays=") &&
        relays.every((r) => hopNamePattern.test(r))));
    if (!ok) {
      ctx.issues.push({
        code: "custom",
        input: text,
        message:
          `"${text}" is not a sending hop: write its name, or name:relays=<hop>+<hop> for the origins it relays (for example plant1 or plant1:relays=plant0)`,
      });
      return z.NEVER;
    }
    return { name, relays };
  });
}

/** The data diode's options: flags, YAML keys and README rows come from them. */
export const diodeOptions = {
  diodeSend: option(repeated(diodeTarget()).default([]), {
    group: "Data diode",
    arg: "<hop=host:port>",
    repeatable: true,
    help:
      "Send this hop's data set one way, as UDP, to a hop behind a data diode; nothing is ever read back (repeatable)",
  }),
  diodeListen: option(hostPort().optional(), {
    group: "Data diode",
    arg: "<host:port>",
    help:
      "Receive data-diode packets (UDP) from the hops in --diode-peers on this address; nothing is ever sent back",
  }),
  diodePeers: option(
    z.preprocess((v) => stringList().parse(v), z.array(diodePeer())).default([]),
    {
      group: "Data diode",
      arg: "<hop,...>",
      help:
        "Hops whose diode packets --diode-listen accepts (hop:relays=<hop>+<hop> for origins a hop relays)",
    },
  ),
  diodeKey: option(filePath().optional(), {
    path: true,
    group: "Data diode",
    arg: "<file>",
    help:
      "The pre-shared 256-bit keys of this hop's diode links, one line per key with the sending hop's name (hopgate certs diode-key); readable by its owner only",
    defaultText: "<data-dir>/diode.key",
  }),
  diodeCarousel: option(duration().default(10_000), {
    group: "Data diode",
    arg: "<duration>",
    help:
      "Time in which the whole data set is sent again, so a receiver that missed packets or started late converges",
    defaultText: "10s",
  }),
  diodeRate: option(byteSize().default(1024 * 1024), {
    group: "Data diode",
    arg: "<size>",
    help:
      "Most bytes per second sent into a diode, carousel, parity and headers included; changes coalesce per point above it",
    defaultText: "1MB",
  }),
  diodePacket: option(byteSize().default(1200), {
    group: "Data diode",
    arg: "<size>",
    help:
      "Largest UDP payload sent into a diode (fits a typical path MTU); larger points are split",
  }),
  diodeFec: option(int(0, 64).default(8), {
    group: "Data diode",
    arg: "<k>",
    help:
      "One XOR parity packet after every k packets, which repairs one lost packet of the k; 0 sends none",
  }),
};

/** The data diode's settings, with the key file's path resolved. */
export type DiodeConfig = Omit<OptionValues<typeof diodeOptions>, "diodeKey"> & {
  diodeKey: string;
};

declare module "../../core/config/mod.ts" {
  /** The data diode's settings are part of every hop's configuration. */
  interface HopConfig extends DiodeConfig {}
}
