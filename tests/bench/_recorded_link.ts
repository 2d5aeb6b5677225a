/**
 * What a source hop writes on a push link, recorded in memory so that relay
 * benchmarks time only the relay: hello, the snapshot of `points` Double
 * points (`<hop>/line<i % 10>/tag<i>`, value `round + i / 2`), then rounds of
 * changes to every point. Also the link options and wire the benchmarks share.
 */
import { logger, PointStore, Status } from "../../core/mod.ts";
import { protocolVersion } from "../../tunnel/frames.ts";
import { helloFrame } from "../../tunnel/control_frames.ts";
import { Link, type LinkOptions, type Wire } from "../../tunnel/link.ts";

/** Link options of a benchmark link: no timers, no acknowledgements awaited. */
export const benchLinkOptions: Omit<LinkOptions, "hop" | "peer" | "role" | "store"> = {
  log: logger("bench"),
  heartbeat: 3_600_000,
  timeout: 3_600_000,
  maxFrame: 64 << 20,
  writeTimeout: 1000,
  onWrite: () => Promise.resolve(Status.BadNotWritable),
  window: Infinity, // recording wires acknowledge nothing
  clock: { now: () => Date.now(), setTimeout: () => 0, clearTimeout: () => {} },
};

/** A wire that keeps (or just counts) what is written. */
export function recorder(keep: boolean): Wire & { frames: Uint8Array[]; bytes: number } {
  const w = {
    frames: [] as Uint8Array[],
    bytes: 0,
    write: (b: Uint8Array) => {
      if (keep) w.frames.push(b);
      w.bytes += b.length;
      return true;
    },
    close: () => {},
    buffered: () => 0,
  };
  return w;
}

/** The recorded frames of one push link from `hop` to `peer`. */
export interface RecordedLink {
  hello: Uint8Array;
  snapshot: Uint8Array[];
  rounds: Uint8Array[];
  /** Updates in `rounds`. */
  updates: number;
}

/** Records hop `hop`'s push link to `peer`: hello, the snapshot, then `rounds` rounds. */
export async function recordPushLink(
  hop: string,
  peer: string,
  points: number,
  rounds: number,
): Promise<RecordedLink> {
  const store = new PointStore(hop);
  const wire = recorder(true);
  const link = new Link(wire, {
    ...benchLinkOptions,
    hop,
    peer,
    role: "dialer",
    direction: "push",
    store,
  });
  const apply = (r: number) => {
    for (let i = 0; i < points; i++) {
      store.apply({
        id: `${hop}/line${i % 10}/tag${i}`,
        value: r + i * 0.5,
        type: "Double",
        status: Status.Good,
        time: 1_700_000_000_000 + r,
        hops: [],
        cause: null,
      }, "sim");
    }
  };
  apply(0);
  link.start();
  link.receive(helloFrame({ version: protocolVersion, hop: peer, to: hop, direction: "push" }));
  const snapshot = wire.frames.splice(0);
  const hello = snapshot.shift()!;
  for (let r = 1; r <= rounds; r++) {
    apply(r);
    await Promise.resolve(); // the link flushes in a microtask
  }
  return { hello, snapshot, rounds: wire.frames.splice(0), updates: points * rounds };
}
