/**
 * The data diode: a one-way UDP link for plants that allow no return path
 * at all (a hardware diode, or a firewall rule that passes one direction
 * only). A sending hop (`--diode-send <hop>=<host:port>`) sends its data set
 * as AES-256-GCM packets under a pre-shared key, changes as they happen and
 * the whole set again as a carousel, with XOR parity; a receiving hop
 * (`--diode-listen`, `--diode-peers`) applies them, never sends a packet,
 * and shows gaps and silence in the points' status and cause. Points that
 * came over a diode cannot be written. See docs/deployment.md and
 * docs/security.md.
 *
 * @module
 *
 * @example A pre-shared key file, as `hopgate certs diode-key` writes it
 * ```ts
 * import { ok as assert } from "node:assert";
 * import { join } from "node:path";
 * import { addDiodeKey, readDiodeKeys } from "./mod.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const file = join(dir, "diode.key");
 * const line = await addDiodeKey("plant1", file); // "plant1 <64 hex digits>"
 * assert(/^plant1 [0-9a-f]{64}\n$/.test(line));
 * // Readable by its owner only, or a hop refuses it.
 * assert(((await Deno.stat(file)).mode! & 0o077) === 0);
 * const [key] = await readDiodeKeys(file);
 * assert(key?.hop === "plant1" && key.key.algorithm.name === "AES-GCM");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
import { join } from "node:path";
import { type Adapter, formatHostPort, type HopConfig, type Plugin } from "../../core/mod.ts";
import { DiodeListener } from "./diode_listener.ts";
import { DiodePeerSource } from "./diode_receiver.ts";
import { DiodeSender } from "./diode_sender.ts";
import { diodeOptions } from "./options.ts";

export { addDiodeKey, type DiodeKey, DiodeKeyError, readDiodeKeys } from "./diode_key.ts";
export { type DiodeDrops, DiodeListener } from "./diode_listener.ts";
export { DiodePeerSource, type DiodePeerStats } from "./diode_receiver.ts";
export { DiodeSender, type DiodeSenderOptions, type DiodeSenderStats } from "./diode_sender.ts";
export { type DiodeConfig, diodeOptions, type DiodePeer, type DiodeTarget } from "./options.ts";

/** Smallest packet that holds a header, a point and the tag. */
const minPacket = 256;
/** Largest UDP payload over IPv4. */
const maxPacket = 65_507;

function usesDiode(c: HopConfig): boolean {
  return c.diodeSend.length > 0 || c.diodeListen !== undefined;
}

/** The diode adapters: a sender per target, then a source per peer, then the listening socket. */
export function diodeAdapters(c: HopConfig): Adapter[] {
  const out: Adapter[] = c.diodeSend.map((t) =>
    new DiodeSender({ peer: t.peer, host: t.address.host, port: t.address.port })
  );
  if (c.diodeListen) {
    const sources = new Map(c.diodePeers.map((p) => [p.name, new DiodePeerSource(p)]));
    out.push(...sources.values(), new DiodeListener(c.diodeListen, sources));
  }
  return out;
}

/** The rules between the diode's options. */
function diodeChecks(c: HopConfig): string[] {
  const out: string[] = [];
  if (c.diodeListen && c.diodePeers.length === 0) {
    out.push(
      "--diode-listen is set but --diode-peers is empty: name the hops whose packets it accepts, for example --diode-peers plant1",
    );
  }
  if (!c.diodeListen && c.diodePeers.length > 0) {
    out.push("--diode-peers is set without --diode-listen: give the address to receive on");
  }
  const names = c.diodePeers.map((p) => p.name);
  for (const [i, p] of c.diodePeers.entries()) {
    if (p.name === c.name) {
      out.push(`--diode-peers lists this hop's own name "${p.name}"; remove it`);
    }
    if (names.indexOf(p.name) !== i) out.push(`--diode-peers lists "${p.name}" twice`);
  }
  const sent = c.diodeSend.map((t) => t.peer);
  for (const [i, peer] of sent.entries()) {
    if (peer === c.name) out.push(`--diode-send "${peer}" names this hop itself; name the peer`);
    if (sent.indexOf(peer) !== i) out.push(`--diode-send names "${peer}" twice`);
  }
  if (c.diodePacket < minPacket || c.diodePacket > maxPacket) {
    out.push(
      `--diode-packet ${c.diodePacket} bytes is outside ${minPacket} to ${maxPacket}: give the path's MTU less 28 bytes, for example 1200`,
    );
  }
  if (c.diodeRate < c.diodePacket * 10) {
    out.push(
      `--diode-rate ${c.diodeRate} bytes/s is less than 10 packets of --diode-packet (${c.diodePacket}) a second: give at least ${
        c.diodePacket * 10
      }`,
    );
  }
  if (c.diodeCarousel < 100) {
    out.push(`--diode-carousel ${c.diodeCarousel} ms is too short: give at least 100ms`);
  }
  return out;
}

/** The data diode plugin (adapters/all.ts registers it). */
export const diodePlugin: Plugin = {
  name: "diode",
  options: diodeOptions,
  activatedBy: "--diode-send or --diode-listen",
  active: usesDiode,
  defaults(c) {
    c.diodeKey ??= join(c.dataDir, "diode.key");
  },
  checks: diodeChecks,
  files(c) {
    if (!usesDiode(c)) return [];
    return [[
      "diodeKey",
      `or create it with: hopgate certs diode-key ${
        c.diodeSend.length > 0 ? c.name : "<sending hop>"
      }`,
    ]];
  },
  permissions(c) {
    if (!usesDiode(c)) return {};
    // A sender binds an ephemeral port to send from (it never reads it), and may send only to
    // its diode's address; a receiver may only listen on its own.
    const net = [
      ...(c.diodeListen ? [formatHostPort(c.diodeListen)] : []),
      ...c.diodeSend.flatMap((t) => [
        t.address.host.includes(":") ? "[::]:0" : "0.0.0.0:0",
        formatHostPort(t.address),
      ]),
    ];
    return { net: [...new Set(net)], read: [c.diodeKey] };
  },
  adapters: diodeAdapters,
};
