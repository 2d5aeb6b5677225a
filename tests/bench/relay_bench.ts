/**
 * One relay hop's hot path, as the design's ≥ 1,000,000 updates/s target
 * means it: decode data frames from upstream → apply to the store → encode
 * the changes for a downstream link. Frames are recorded first, so only the
 * relay is timed. `deno task bench` gives the time per run of 510,000 updates;
 * `deno run -A tests/bench/relay_bench.ts` prints updates/s.
 */
import { PointStore } from "../../core/mod.ts";
import { protocolVersion } from "../../tunnel/frames.ts";
import { helloFrame } from "../../tunnel/control_frames.ts";
import { Link } from "../../tunnel/mod.ts";
import { benchLinkOptions, recorder, recordPushLink } from "./_recorded_link.ts";

const points = 10_000;
const rounds = 50;

/** Feeds the recorded frames through a relay with one downstream link; returns updates/s. */
async function relay(frames: Uint8Array[]): Promise<number> {
  const store = new PointStore("dmz");
  const upstream = new Link(recorder(false), {
    ...benchLinkOptions,
    hop: "dmz",
    peer: "plant1",
    role: "listener",
    store,
  });
  const out = recorder(false);
  const downstream = new Link(out, {
    ...benchLinkOptions,
    hop: "dmz",
    peer: "it",
    role: "listener",
    store,
  });
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

const up = await recordPushLink("plant1", "dmz", points, rounds);
const recorded = [up.hello, ...up.snapshot, ...up.rounds];

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
