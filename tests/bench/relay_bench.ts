/**
 * One relay hop's hot path, as the design's ≥ 1,000,000 updates/s target
 * means it: decode data frames from upstream → apply to the store → encode
 * the changes for a downstream link. Frames are recorded first, so only the
 * relay is timed. `deno task bench` gives the time per run of 510,000 updates;
 * `deno run -A tests/bench/relay_bench.ts` prints updates/s.
 */
import { logger, PointStore, Status } from "../../core/mod.ts";
import { helloFrame, protocolVersion } from "../../tunnel/frame_codec.ts";
import { Link, type Wire } from "../../tunnel/mod.ts";

const points = 10_000;
const rounds = 50;

const base = {
  log: logger("bench"),
  heartbeat: 3_600_000,
  timeout: 3_600_000,
  maxFrame: 64 << 20,
  writeTimeout: 1000,
  onWrite: () => Promise.resolve(Status.BadNotWritable),
  window: Infinity, // the recording wires acknowledge nothing
  clock: { now: () => Date.now(), setTimeout: () => 0, clearTimeout: () => {} },
};

/** A wire that keeps (or just counts) what is written. */
function recorder(keep: boolean): Wire & { frames: Uint8Array[]; bytes: number } {
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

/** Records what a source hop sends on a push link: hello, snapshot, `rounds` rounds of changes. */
async function recordUpstream(): Promise<Uint8Array[]> {
  const source = new PointStore("plant1");
  const wire = recorder(true);
  const link = new Link(wire, {
    ...base,
    hop: "plant1",
    peer: "dmz",
    role: "dialer",
    direction: "push",
    store: source,
  });
  link.start();
  link.receive(
    helloFrame({ version: protocolVersion, hop: "dmz", to: "plant1", direction: "push" }),
  );
  for (let r = 0; r <= rounds; r++) {
    for (let i = 0; i < points; i++) {
      source.apply({
        id: `plant1/line${i % 10}/tag${i}`,
        value: r + i * 0.5,
        type: "Double",
        status: Status.Good,
        time: 1_700_000_000_000 + r,
        hops: [],
        cause: null,
      }, "sim");
    }
    await Promise.resolve();
  }
  return wire.frames;
}

/** Feeds the recorded frames through a relay with one downstream link; returns updates/s. */
async function relay(frames: Uint8Array[]): Promise<number> {
  const store = new PointStore("dmz");
  const upstream = new Link(recorder(false), {
    ...base,
    hop: "dmz",
    peer: "plant1",
    role: "listener",
    store,
  });
  const out = recorder(false);
  const downstream = new Link(out, { ...base, hop: "dmz", peer: "it", role: "listener", store });
  upstream.start();
  downstream.start();
  downstream.receive(
    helloFrame({ version: protocolVersion, hop: "it", to: "dmz", direction: "pull" }),
  );
  const t0 = performance.now();
  for (const f of frames) {
    upstream.receive(f);
    await Promise.resolve(); // the downstream flush runs as a microtask, as with real sockets
  }
  const ms = performance.now() - t0;
  const n = store.stats().updates;
  if (store.get(`plant1/line9/tag${points - 1}`)?.value !== rounds + (points - 1) * 0.5) {
    throw new Error("the relay did not receive the final values");
  }
  return n / (ms / 1000);
}

const recorded = await recordUpstream();

Deno.bench(
  `relay hot path in memory: decode → store → encode, ${
    (points * (rounds + 1)).toLocaleString("en")
  } updates`,
  async () => {
    await relay(recorded);
  },
);

if (import.meta.main) {
  const frames = recorded;
  const rates: number[] = [];
  for (let i = 0; i < 5; i++) rates.push(await relay(frames));
  rates.sort((a, b) => a - b);
  console.log(
    `relay hop (decode → store → encode), ${points} points × ${rounds + 1} rounds: median ${
      (rates[2]! / 1e6).toFixed(2)
    } M updates/s (runs: ${rates.map((r) => (r / 1e6).toFixed(2)).join(", ")})`,
  );
}
