/**
 * The data diode's figures: point updates a second through a diode link at
 * 0% and 5% loss, the bandwidth used against --diode-rate, and how long a
 * restarted receiver takes to hold all of a 100,000-point data set again.
 * The sender is a hop process (the simulator, under its derived
 * permissions); the lossy proxy and the receiving hop run in this process,
 * so they share its CPU.
 *
 *     deno run -A tests/bench/diode.ts [--quick] [--json [path]]
 *
 * Prints numbers; never fails for being slow.
 */
import { join } from "node:path";
import { Hop, sleep } from "../../core/mod.ts";
import {
  addDiodeKey,
  diodeAdapters,
  DiodeListener,
  DiodePeerSource,
} from "../../adapters/diode/mod.ts";
import type { Adapter } from "../../core/mod.ts";
import { hopConfig, spawnHop } from "../kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "../kit/helpers.ts";
import { UdpLossyProxy } from "../kit/udp_lossy_proxy.ts";
import { formatTable, writeJsonResult } from "./_report.ts";
import { loadAverage } from "../kit/machine.ts";

/** One steady-state measurement through the diode. */
export interface DiodeFlow {
  loss: number;
  /** --diode-rate, bytes/s. */
  rateLimit: number;
  /** Point updates the receiver applied, per second. */
  appliedPerS: number;
  /** Bytes/s on the wire (UDP payloads plus 28 bytes of IPv4 and UDP headers a packet). */
  wirePerS: number;
  packetsPerS: number;
  gaps: number;
  repaired: number;
}

/** How a receiver caught up with the data set. */
export interface Convergence {
  /** From its start to every point held, and to every point Good (`null`: not within 4 cycles). */
  heldMs: number | null;
  goodMs: number | null;
  /** Gaps it saw meanwhile, packets parity repaired, packets dropped for overload. */
  gaps: number;
  repaired: number;
  overload: number;
}

/** Everything the benchmark measures. */
export interface DiodeResult {
  flows: DiodeFlow[];
  convergence: {
    points: number;
    carouselMs: number;
    rateLimit: number;
    /** A receiver's start, then a restart. */
    runs: Convergence[];
  };
  loadavg: { before: string; after: string };
}

function listener(adapters: Adapter[]): DiodeListener {
  return adapters.find((a) => a instanceof DiodeListener)!;
}

/** Makes plant1's key in both data directories. */
async function keys(dir: string): Promise<void> {
  for (const hop of ["plant1", "dmz"]) await Deno.mkdir(join(dir, hop), { recursive: true });
  const file = join(dir, "plant1", "diode.key");
  await addDiodeKey("plant1", file);
  await Deno.copyFile(file, join(dir, "dmz", "diode.key"));
  await Deno.chmod(join(dir, "dmz", "diode.key"), 0o600);
}

async function receiver(dir: string, port: number) {
  const { config } = hopConfig(dir, "dmz", [
    "--diode-listen",
    `127.0.0.1:${port}`,
    "--diode-peers",
    "plant1",
    "--status-interval",
    "0",
  ]);
  const adapters = diodeAdapters(config);
  const hop = new Hop(config, adapters);
  await hop.start();
  const source = adapters.find((a) => a instanceof DiodePeerSource)!;
  return { hop, source, adapters };
}

function sender(dir: string, port: number, flags: string[]): Proc {
  return spawnHop(dir, [
    "--name",
    "plant1",
    "--data-dir",
    join(dir, "plant1"),
    "--status-interval",
    "0",
    "--diode-send",
    `dmz=127.0.0.1:${port}`,
    ...flags,
  ]);
}

/** Updates/s through the diode with the simulator changing `points` at `simRate`. */
async function flow(
  o: { loss: number; rateLimit: number; points: number; simRate: number; seconds: number },
): Promise<DiodeFlow> {
  await using dir = await tempDir("hopgate-bench-diode-");
  await keys(dir.path);
  const port = freePort();
  const rx = await receiver(dir.path, port);
  await using proxy = await UdpLossyProxy.start(port, { spoil: { drop: o.loss }, keep: 0 });
  const tx = sender(dir.path, proxy.port, [
    "--sim",
    String(o.points),
    "--sim-rate",
    String(o.simRate),
    "--diode-rate",
    String(o.rateLimit),
  ]);
  try {
    await waitFor("the points at the receiver", () => rx.hop.store.size >= o.points, 30_000);
    await sleep(1000);
    const u0 = rx.hop.store.stats().updates, p0 = { ...proxy.counts }, t0 = performance.now();
    const s0 = rx.source.stats();
    await sleep(o.seconds * 1000);
    const s = (performance.now() - t0) / 1000;
    const s1 = rx.source.stats();
    const packets = proxy.counts.received - p0.received;
    return {
      loss: o.loss,
      rateLimit: o.rateLimit,
      appliedPerS: Math.round((rx.hop.store.stats().updates - u0) / s),
      wirePerS: Math.round((proxy.counts.bytes - p0.bytes + 28 * packets) / s),
      packetsPerS: Math.round(packets / s),
      gaps: s1.gaps - s0.gaps,
      repaired: s1.repaired - s0.repaired,
    };
  } finally {
    await tx.stop();
    await rx.hop.stop();
  }
}

/** A receiver's time to hold all of a `points`-point set, at its first start and after a restart. */
async function convergence(o: { points: number; carouselMs: number; rateLimit: number }) {
  await using dir = await tempDir("hopgate-bench-diode-");
  await keys(dir.path);
  const port = freePort();
  const tx = sender(dir.path, port, [
    "--sim",
    String(o.points),
    "--sim-rate",
    "1000",
    "--diode-rate",
    String(o.rateLimit),
    "--diode-carousel",
    `${o.carouselMs}ms`,
  ]);
  const converge = async () => {
    const t0 = performance.now();
    const rx = await receiver(dir.path, port);
    try {
      const count = (good: boolean) => {
        let n = 0;
        for (const p of rx.hop.store.values()) {
          if (p.id.startsWith("plant1/sim/") && (!good || p.status === 0)) n++;
        }
        return n;
      };
      // Polled seldom: the receiver shares this process, and counting 100,000 points takes time.
      const deadline = performance.now() + o.carouselMs * 4 + 30_000;
      let heldMs: number | null = null, goodMs: number | null = null;
      while (goodMs === null && performance.now() < deadline) {
        await sleep(250);
        if (heldMs === null && rx.hop.store.size >= o.points && count(false) >= o.points) {
          heldMs = Math.round(performance.now() - t0);
        }
        // Good as well: a gap (a change lost beyond repair) holds every point Uncertain until
        // the carousel brings it again.
        if (heldMs !== null && count(true) >= o.points) goodMs = Math.round(performance.now() - t0);
      }
      const l = listener(rx.adapters).stats();
      const s = rx.source.stats();
      return { heldMs, goodMs, gaps: s.gaps, repaired: s.repaired, overload: l.overload };
    } finally {
      await rx.hop.stop();
    }
  };
  try {
    await tx.waitForLine(/Sending one way/, 30_000);
    // The sender's first cycle (as fast as the rate allows) is over before the receiver starts.
    await sleep(2000);
    const runs = [await converge(), await converge()];
    return { ...o, runs };
  } finally {
    await tx.stop();
  }
}

/** Runs every measurement. */
export async function measureDiode(options: { quick?: boolean } = {}): Promise<DiodeResult> {
  const before = loadAverage();
  const seconds = options.quick ? 3 : 5;
  const flows: DiodeFlow[] = [];
  const fast = 64 * 1024 * 1024;
  for (const loss of [0, 0.05]) {
    flows.push(await flow({ loss, rateLimit: fast, points: 10_000, simRate: 200_000, seconds }));
  }
  flows.push(
    await flow({ loss: 0, rateLimit: 1024 * 1024, points: 10_000, simRate: 200_000, seconds }),
  );
  const conv = await convergence({
    points: 100_000,
    carouselMs: 10_000,
    rateLimit: 8 * 1024 * 1024,
  });
  return { flows, convergence: conv, loadavg: { before, after: loadAverage() } };
}

if (import.meta.main) {
  const r = await measureDiode({ quick: Deno.args.includes("--quick") });
  const n = (x: number) => x.toLocaleString("en");
  const ms = (x: number | null) => (x === null ? "(not within 4 cycles)" : `${n(x)} ms`);
  console.log(`diode benchmark: load average ${r.loadavg.before} before, ${r.loadavg.after} after`);
  console.log(formatTable([
    ["loss", "--diode-rate", "applied upd/s", "wire bytes/s", "packets/s", "gaps", "repaired"],
    ...r.flows.map((f) => [
      `${f.loss * 100}%`,
      n(f.rateLimit),
      n(f.appliedPerS),
      n(f.wirePerS),
      n(f.packetsPerS),
      n(f.gaps),
      n(f.repaired),
    ]),
  ]));
  const c = r.convergence;
  console.log(
    `${n(c.points)} points, carousel ${c.carouselMs} ms, --diode-rate ${n(c.rateLimit)}:`,
  );
  for (const [i, run] of c.runs.entries()) {
    console.log(
      `  ${i === 0 ? "receiver started" : "after a restart"}: all held after ${
        ms(run.heldMs)
      }, all Good after ${
        ms(run.goodMs)
      }; ${run.gaps} gaps, ${run.repaired} repaired, ${run.overload} dropped for overload`,
    );
  }
  const path = await writeJsonResult("diode", Deno.args, { ...r });
  if (path) console.log(`wrote ${path}`);
}
