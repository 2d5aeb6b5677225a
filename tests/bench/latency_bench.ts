/**
 * Latency source → last hop: a source in this process pushes to dmz (a
 * process), it (a process) pulls from dmz, and a hop in this process pulls
 * from it. Each update carries performance.now() as its value, so one clock
 * measures the whole trip. Run: deno run -A tests/bench/latency_bench.ts [updates/s]
 */
import { Status } from "../../core/mod.ts";
import { chainCerts, localHop, startHop, stopAll } from "../_chain.ts";
import { freePort, type Proc, waitFor } from "../_helpers.ts";

if (import.meta.main) {
  const rate = Number(Deno.args[0] ?? 50_000);
  const points = 1000;
  const seconds = 5;
  const dir = await Deno.makeTempDir({ prefix: "hopgate-bench-" });
  let dmz: Proc | null = null, it: Proc | null = null;
  try {
    await chainCerts(dir, ["src", "dmz", "it", "ops"]);
    const p1 = freePort(), p2 = freePort();
    dmz = await startHop(dir, "dmz", ["--listen", `127.0.0.1:${p1}`, "--peers", "src,it"]);
    it = await startHop(dir, "it", [
      "--pull",
      `dmz=127.0.0.1:${p1}`,
      "--listen",
      `127.0.0.1:${p2}`,
      "--peers",
      "ops",
    ]);
    await using src = await localHop(dir, "src", ["--push", `dmz=127.0.0.1:${p1}`]);
    await using ops = await localHop(dir, "ops", ["--pull", `it=127.0.0.1:${p2}`]);
    const publish = (i: number) =>
      src.hop.store.apply({
        id: `src/lat/${i}`,
        value: performance.now(),
        type: "Double",
        status: Status.Good,
        time: Date.now(),
        hops: [],
        cause: null,
      }, "bench");
    for (let i = 0; i < points; i++) publish(i);
    await waitFor("the set at ops", () => ops.hop.store.get(`src/lat/${points - 1}`), 20_000);
    const samples: number[] = [];
    let measuring = false;
    ops.hop.store.subscribe({
      onUpdate: (p) => {
        if (measuring && p.id.startsWith("src/lat/")) {
          samples.push(performance.now() - (p.value as number));
        }
      },
      onRemove: () => {},
    });
    measuring = true;
    const tick = 5;
    const perTick = Math.max(1, Math.round(rate * tick / 1000));
    let next = 0;
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      const t = performance.now();
      for (let k = 0; k < perTick; k++) {
        publish(next);
        next = (next + 1) % points;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, tick - (performance.now() - t))));
    }
    await new Promise((r) => setTimeout(r, 500));
    measuring = false;
    samples.sort((a, b) => a - b);
    const q = (f: number) => samples[Math.min(samples.length - 1, Math.floor(f * samples.length))]!;
    console.log(
      `latency source → dmz → it → last hop at ${rate} updates/s offered: ${samples.length} samples over ${seconds} s (coalesced per point), median ${
        q(0.5).toFixed(2)
      } ms, p99 ${q(0.99).toFixed(2)} ms, max ${q(1).toFixed(2)} ms`,
    );
  } finally {
    await stopAll(it, dmz);
    await Deno.remove(dir, { recursive: true });
  }
}
