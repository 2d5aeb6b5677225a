/**
 * The hop tunnel: mutually authenticated TLS links that mirror a hop's data
 * set, with every point's status, along a chain of hops. main.ts wires it in.
 */

export { LinkAdapter, type LinkMode, type LinkSettings } from "./link_adapter.ts";
export { ListenerAdapter } from "./listener.ts";
export { Link, linkOrigin, type LinkState, type Wire } from "./link.ts";
export { linkPointIds, linkPointsOrigin } from "./link_points.ts";
export { OriginOwners } from "./origin_owners.ts";
export { type LinkTarget, type PeerRole, type PeerSpec, type TunnelConfig } from "./options.ts";
export { linkSettings, tunnelAdapters, tunnelPlugin } from "./plugin.ts";
export { pointLine, runWatch, watchCommandOptions, type WatchOptions } from "./watch.ts";
