/**
 * The hop tunnel: mutually authenticated TLS links that mirror a hop's data
 * set, with every point's status, along a chain of hops. main.ts wires it in.
 */
import type { Adapter, HopConfig } from "../core/mod.ts";
import { LinkAdapter, type LinkSettings } from "./link_adapter.ts";
import { ListenerAdapter } from "./listener.ts";
import { OriginOwners } from "./origin_owners.ts";

export { LinkAdapter, type LinkMode, type LinkSettings } from "./link_adapter.ts";
export { ListenerAdapter } from "./listener.ts";
export { Link, linkOrigin, type LinkState, type Wire } from "./link.ts";
export { linkPointIds, linkPointsOrigin } from "./link_points.ts";
export { OriginOwners } from "./origin_owners.ts";
export { pointLine, runWatch, watchCommandOptions, type WatchOptions } from "./watch.ts";

/** The link settings a configuration gives; `owners` is shared by every link of the hop. */
export function linkSettings(config: HopConfig, owners = new OriginOwners()): LinkSettings {
  return {
    heartbeat: config.heartbeat,
    linkTimeout: config.linkTimeout,
    maxFrame: config.maxFrame,
    writeTimeout: config.writeTimeout,
    limits: {
      maxPoints: config.maxPoints,
      maxLinkPoints: config.maxLinkPoints,
      maxId: config.maxId,
      maxHops: config.maxHops,
      maxValue: config.maxValue,
    },
    owners,
  };
}

/**
 * The tunnel adapters a configuration asks for: one per dialled link, one per
 * peer the listener accepts, then the listener itself (started last, stopped first).
 */
export function tunnelAdapters(config: HopConfig): Adapter[] {
  const settings = linkSettings(config);
  const out: Adapter[] = [];
  const dialled = new Set<string>();
  for (const [direction, targets] of [["push", config.push], ["pull", config.pull]] as const) {
    for (const t of targets) {
      if (dialled.has(t.peer)) {
        throw new Error(`Hop "${t.peer}" is dialled twice; give one --push or --pull per peer`);
      }
      dialled.add(t.peer);
      out.push(
        new LinkAdapter(t.peer, { kind: "dial", direction, addresses: t.addresses }, settings),
      );
    }
  }
  if (config.listen) {
    const accepted = new Map<string, LinkAdapter>();
    for (const spec of config.peers) {
      // A peer this hop dials already has its adapter (and origin); it cannot also dial in.
      if (dialled.has(spec.name) || accepted.has(spec.name)) continue;
      const a = new LinkAdapter(spec.name, { kind: "accept", spec }, settings);
      accepted.set(spec.name, a);
      out.push(a);
    }
    out.push(
      new ListenerAdapter(config.listen, accepted, {
        maxLinks: config.maxLinks,
        handshakeTimeout: config.handshakeTimeout,
        allowFrom: config.allowFrom,
        maxUnauthenticated: config.maxUnauthenticated,
        maxUnauthenticatedPerAddress: config.maxUnauthenticatedPerAddress,
      }),
    );
  }
  return out;
}
