/**
 * The relay hot path of this tree against another checkout of hopgate (a
 * baseline commit, e.g. `git archive <commit> | tar -x -C <dir>` with this
 * tree's node_modules linked in), both loaded into one process and run
 * alternately, so that a busy machine slows both alike: what a change (the
 * status endpoint's counters) costs decode → store → encode.
 *
 *     deno run -A tests/bench/relay_ab.ts <baseline dir> [pairs]
 *
 * Prints the medians of both, the median of the per-pair ratios and their
 * range, by wall time and by process CPU time; never fails for being slow.
 */
import process from "node:process";
import { median } from "./_stats.ts";

const base = Deno.args[0];
if (!base) throw new Error("Usage: relay_ab.ts <baseline dir> [pairs]");
const pairs = Number(Deno.args[1] ?? 15);
const points = 10_000;
const rounds = 30;

/** The modules of one tree the relay needs. */
async function tree(root: URL) {
  const at = (p: string) => new URL(p, root).href;
  const core = await import(at("core/mod.ts"));
  const tunnel = await import(at("tunnel/mod.ts"));
  const frames = await import(at("tunnel/frames.ts"));
  const control = await import(at("tunnel/control_frames.ts"));
  const rec = await import(at("tests/bench/_recorded_link.ts"));
  const up = await rec.recordPushLink("plant1", "dmz", points, rounds);
  const recorded: Uint8Array[] = [up.hello, ...up.snapshot, ...up.rounds];
  /** One relay of the recorded frames: wall and CPU ms. */
  return async (): Promise<{ wall: number; cpu: number }> => {
    const store = new core.PointStore("dmz");
    const upstream = new tunnel.Link(rec.recorder(false), {
      ...rec.benchLinkOptions,
      hop: "dmz",
      peer: "plant1",
      role: "listener",
      store,
    });
    const downstream = new tunnel.Link(rec.recorder(false), {
      ...rec.benchLinkOptions,
      hop: "dmz",
      peer: "it",
      role: "listener",
      store,
    });
    upstream.start();
    downstream.start();
    downstream.receive(
      control.helloFrame({
        version: frames.protocolVersion,
        hop: "it",
        to: "dmz",
        direction: "pull",
      }),
    );
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (const f of recorded) {
      upstream.receive(f);
      await Promise.resolve();
    }
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (store.stats().updates !== points * (rounds + 1)) throw new Error("updates went missing");
    return { wall, cpu: (c.user + c.system) / 1000 };
  };
}

const here = new URL("../../", import.meta.url);
const baseUrl = new URL(`file://${Deno.realPathSync(base)}/`);
const runBase = await tree(baseUrl);
const runHere = await tree(here);
// Warm both up.
for (let i = 0; i < 3; i++) {
  await runBase();
  await runHere();
}
const rows: { b: { wall: number; cpu: number }; h: { wall: number; cpu: number } }[] = [];
for (let i = 0; i < pairs; i++) {
  // Alternate which goes first, so neither always runs on a warmer or colder machine.
  if (i % 2 === 0) rows.push({ b: await runBase(), h: await runHere() });
  else {
    const h = await runHere();
    rows.push({ b: await runBase(), h });
  }
}
const n = points * (rounds + 1);
for (const k of ["wall", "cpu"] as const) {
  const ratios = rows.map((r) => r.h[k] / r.b[k]).sort((a, b) => a - b);
  const rate = (ms: number) => (n / ms / 1000).toFixed(2);
  console.log(
    `${k}: baseline ${rate(median(rows.map((r) => r.b[k])))} M updates/s, this tree ${
      rate(median(rows.map((r) => r.h[k])))
    } M updates/s; time ratio this/baseline median ${median(ratios).toFixed(3)} (quartiles ${
      ratios[Math.floor(pairs / 4)]!.toFixed(3)
    }-${ratios[Math.floor((3 * pairs) / 4)]!.toFixed(3)}, ${pairs} pairs)`,
  );
}
