/**
 * Latency source → last hop: a source in this process pushes to dmz (a
 * process), it (a process) pulls from dmz, and a hop in this process pulls
 * from it. Each update carries performance.now() as its value, so one clock
 * measures the whole trip. Run:
 *
 *     deno run -A --v8-flags=--expose-gc tests/bench/chain_latency.ts [updates/s]
 */
import { sleep, Status } from "../../core/mod.ts";
import { lastResortCollection } from "../../core/memory_release.ts";
import { chainCerts, localHop, startHop, startIt, stopAll } from "../kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "../kit/helpers.ts";

/** Latency percentiles at one offered rate. */
export interface LatencyResult {
  ratePerS: number;
  /** Updates that arrived (fewer than offered: the chain coalesces per point). */
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /**
   * When the updates slower than p99 arrived: runs of them less than 5 ms
   * apart, as [ms since the rate's start, how many, slowest ms]. A few large
   * runs are stalls (a pause in one process); many runs of one are queueing.
   */
  slowRuns: [number, number, number][];
  /**
   * The same rate's first seconds, offered before the measurement and not
   * counted in it: see {@link defaultWarmup}. Null without a warm-up.
   */
  warmup: { seconds: number; p99Ms: number; maxMs: number } | null;
}

/**
 * Seconds each rate runs before it is measured. The first seconds of a load
 * carry V8's optimizing compilations in all three processes (on two cores,
 * they take CPU from the chain): in five runs of 10,000 updates/s, the first
 * 5 s had p99 2.7–4.1 ms and the next 5 s 1.4–2.9 ms; with the optimizing
 * compilers off (`--no-opt --no-maglev`) the two windows were alike (3.2–3.9 ms),
 * at a median twice as high. A chain runs for weeks: the figure is its steady
 * state, and the warm-up's own p99 is reported beside it.
 */
export const defaultWarmup = 2;

const r2 = (x: number) => Math.round(x * 100) / 100;

/**
 * Collects this process's garbage before a rate is measured. The process hosts
 * the source and the last hop, and what setting the chain up left (certificates,
 * hop starts, modules) made V8 collect within the measurement's first second: a
 * trace (`--trace-gc`) showed a 7.5 ms scavenge and a 7 ms mark-compact there,
 * each a burst of 50–180 late updates, as many as the p99 of a 3 s run is made
 * of. A hop process collects at its start for the same reason (memory_release.ts).
 * Needs `--v8-flags=--expose-gc` (the bench task passes it); without it, says so.
 */
function collectBeforeMeasuring(): void {
  const collect = lastResortCollection();
  if (collect) collect();
  else {console.error(
      "chain latency: run with --v8-flags=--expose-gc, or this process's own collections count as latency",
    );}
}

/** How a busy loop in this process was paused by the machine. */
export interface MachinePauses {
  /** Longest gap between two readings of the clock, in ms. */
  longestMs: number;
  /** Gaps longer than 1 ms. */
  overOneMs: number;
}

/**
 * Reads the clock in a tight loop for `ms` and reports the gaps: on an idle
 * machine they are the scheduler's and, on a virtual machine, the host's
 * (one seen here: up to 6 and 10.7 ms in 5 s with two such loops, steal time
 * rising meanwhile). A pause of that size in any of the chain's three
 * processes is a burst of late updates, so the latency figures are read with it.
 */
export function machinePauses(ms: number): MachinePauses {
  const end = performance.now() + ms;
  let last = performance.now(), longest = 0, over = 0;
  for (;;) {
    const now = performance.now();
    if (now > end) break;
    const gap = now - last;
    if (gap > 1) over++;
    if (gap > longest) longest = gap;
    last = now;
  }
  return { longestMs: Math.round(longest * 100) / 100, overOneMs: over };
}

/**
 * Starts dmz and it as processes and measures latency at each rate for
 * `seconds`, after `warmup` seconds at that rate ({@link defaultWarmup}).
 */
export async function measureLatency(
  rates: number[],
  options: { seconds?: number; points?: number; warmup?: number } = {},
): Promise<LatencyResult[]> {
  const seconds = options.seconds ?? 3;
  const warmup = options.warmup ?? defaultWarmup;
  const points = options.points ?? 1000;
  await using dir = await tempDir("hopgate-bench-latency-");
  let dmz: Proc | null = null, it: Proc | null = null;
  try {
    await chainCerts(dir.path, ["src", "dmz", "it", "ops"]);
    const p1 = freePort(), p2 = freePort();
    dmz = await startHop(dir.path, "dmz", [
      "--listen",
      `127.0.0.1:${p1}`,
      "--peers",
      "src:push,it:pull",
    ]);
    it = await startIt(dir.path, p1, p2, "ops:pull");
    await using src = await localHop(dir.path, "src", ["--push", `dmz=127.0.0.1:${p1}`]);
    await using ops = await localHop(dir.path, "ops", ["--pull", `it=127.0.0.1:${p2}`]);
    const ids = Array.from({ length: points }, (_, i) => `src/lat/${i}`);
    const publish = (i: number) =>
      src.hop.store.apply({
        id: ids[i]!,
        value: performance.now(),
        type: "Double",
        status: Status.Good,
        time: Date.now(),
        hops: [],
        cause: null,
      }, "bench");
    for (let i = 0; i < points; i++) publish(i);
    await waitFor("the set at ops", () => ops.hop.store.get(`src/lat/${points - 1}`), 20_000);
    const samples = new Float64Array(1 << 21);
    const arrivals = new Float64Array(samples.length);
    let n = 0;
    let measuring = false;
    ops.hop.store.subscribe({
      onUpdate: (p) => {
        if (measuring && n < samples.length && p.id.startsWith("src/lat/")) {
          const now = performance.now();
          arrivals[n] = now;
          samples[n++] = now - (p.value as number);
        }
      },
      onRemove: () => {},
    });
    /** Offers `rate` updates/s for `forSeconds`; the latencies of what arrived meanwhile. */
    const offer = async (rate: number, forSeconds: number) => {
      n = 0;
      measuring = true;
      const tick = 5;
      const start = performance.now();
      let sent = 0;
      let next = 0;
      while (performance.now() - start < forSeconds * 1000) {
        const due = Math.floor((performance.now() - start) * rate / 1000) - sent;
        for (let k = 0; k < due; k++) {
          publish(next);
          next = (next + 1) % points;
        }
        sent += Math.max(0, due);
        await sleep(tick);
      }
      await sleep(500);
      measuring = false;
      const sorted = samples.slice(0, n).sort();
      const q = (f: number) => sorted[Math.min(n - 1, Math.floor(f * n))]!;
      const slowRuns: [number, number, number][] = [];
      let last = -Infinity;
      for (let i = 0; i < n; i++) {
        if (samples[i]! <= q(0.99)) continue;
        const at = arrivals[i]! - start;
        const run = slowRuns.at(-1);
        if (run && at - last < 5) {
          run[1]++;
          run[2] = Math.max(run[2], r2(samples[i]!));
        } else slowRuns.push([Math.round(at), 1, r2(samples[i]!)]);
        last = at;
      }
      const result = {
        samples: n,
        p50Ms: r2(q(0.5)),
        p99Ms: r2(q(0.99)),
        maxMs: r2(q(1)),
        slowRuns,
      };
      // Reused, not reallocated: 32 MB of new arrays per rate made the bench process itself run a
      // mark-compact at the next rate's start, which showed as a burst of slow updates.
      samples.fill(0);
      arrivals.fill(0);
      return result;
    };
    const out: LatencyResult[] = [];
    for (const rate of rates) {
      collectBeforeMeasuring();
      const w = warmup > 0 ? await offer(rate, warmup) : null;
      out.push({
        ratePerS: rate,
        ...await offer(rate, seconds),
        warmup: w && { seconds: warmup, p99Ms: w.p99Ms, maxMs: w.maxMs },
      });
    }
    return out;
  } finally {
    await stopAll(it, dmz);
  }
}

if (import.meta.main) {
  const rates = (Deno.args[0] ?? "10000,50000").split(",").map(Number);
  for (const r of await measureLatency(rates, { seconds: 5 })) {
    console.log(
      `latency source → dmz → it → last hop at ${r.ratePerS} updates/s offered: ${r.samples} samples (coalesced per point), median ${r.p50Ms} ms, p99 ${r.p99Ms} ms, max ${r.maxMs} ms`,
    );
    if (r.warmup) {
      console.log(
        `  measured after ${r.warmup.seconds} s at the rate, whose p99 was ${r.warmup.p99Ms} ms (max ${r.warmup.maxMs} ms)`,
      );
    }
    console.log(
      `  slower than p99, by arrival (ms since start, count, slowest ms): ${
        r.slowRuns.map((x) => x.join("/")).join(" ")
      }`,
    );
  }
}
