/**
 * The hop tunnel: mutually authenticated TLS links that mirror a hop's data
 * set, with every point's status, along a chain of hops. adapters/all.ts
 * registers its plugin; docs/tunnel-protocol.md specifies the protocol.
 *
 * @example Two link sessions over an in-memory wire: a plant pushes its set to a DMZ
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { logger, ManualClock, PointStore, Status } from "../core/mod.ts";
 * import { Link, type Wire } from "./mod.ts";
 *
 * const clock = new ManualClock();
 * const plant = new PointStore("plant1"), dmz = new PointStore("dmz");
 * plant.apply({
 *   id: "plant1/plc1/speed", value: 12.5, type: "Double", status: Status.Good,
 *   time: 0, hops: [], cause: null,
 * }, "plc1");
 * const queues: Uint8Array[][] = [[], []];
 * const wire = (q: Uint8Array[]): Wire => ({ write: (b) => (q.push(b), true), buffered: () => 0, close() {} });
 * const base = {
 *   clock, log: logger("example"), heartbeat: 1000, timeout: 5000, maxFrame: 1 << 20,
 *   writeTimeout: 1000, onWrite: () => Promise.resolve(Status.BadNotWritable),
 * };
 * const up = new Link(wire(queues[0]!), { ...base, hop: "plant1", peer: "dmz", role: "dialer", direction: "push", store: plant });
 * const down = new Link(wire(queues[1]!), { ...base, hop: "dmz", peer: "plant1", role: "listener", peerRole: "push", store: dmz });
 * down.start();
 * up.start();
 * for (let i = 0; i < 10; i++) {
 *   for (const b of queues[0]!.splice(0)) down.receive(b);
 *   for (const b of queues[1]!.splice(0)) up.receive(b);
 *   await Promise.resolve();
 * }
 * assertEquals(dmz.get("plant1/plc1/speed")?.value, 12.5);
 * assertEquals(dmz.get("plant1/plc1/speed")?.hops, ["plant1", "dmz"]);
 * up.close("example done");
 * ```
 *
 * @module
 */

export { LinkAdapter, type LinkMode, type LinkSettings } from "./link_adapter.ts";
export { ListenerAdapter } from "./listener.ts";
export { Link, type LinkLimits, linkOrigin, type LinkState, type Wire } from "./link.ts";
export { type LinkPointIds, linkPointIds, linkPointsOrigin } from "./link_points.ts";
export type { Direction } from "./control_frames.ts";
export { OriginOwners } from "./origin_owners.ts";
export {
  type LinkTarget,
  type PeerRole,
  type PeerSpec,
  type TunnelConfig,
  tunnelOptions,
} from "./options.ts";
export { linkSettings, tunnelAdapters, tunnelCerts, tunnelPlugin, usesTunnel } from "./plugin.ts";
export { pointLine, runWatch, watchCommandOptions, type WatchOptions } from "./watch.ts";
// The data-frame codec and value sizes, for other links that carry points (the data diode).
export { DataFrameWriter } from "./data_frame_writer.ts";
export { DataReader, type DataVisitor, type ReadLimits, tooLarge } from "./data_frame_reader.ts";
export { headerSize as frameHeaderSize, ProtocolError } from "./frames.ts";
export { encodedValueSize, exceedsSize, utf8Size } from "./value_size.ts";
