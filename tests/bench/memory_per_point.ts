/**
 * Anonymous (private) memory per point of a hop process: a relay (tunnel in,
 * tunnel out), an MQTT hop (tunnel in, Sparkplug out to mosquitto) and an
 * OPC UA server hop (tunnel in, `--opcua-server`), each empty and holding
 * `points` points after the snapshot and rounds of changes to every point,
 * from `/proc/<pid>/status` RssAnon. Anonymous memory is what a hop costs on
 * its own: the rest of its RSS is the `deno` executable's file-backed pages,
 * shared by every hop on the machine. Optionally a sustained flood through the
 * relay, sampled every second, for the slope of its memory.
 *
 *     deno run -A tests/bench/memory_per_point.ts [--points 100000] [--hops relay,mqtt,opcua-server] [--flood 120]
 *
 * `MEMORY_SMAPS=<prefix>` copies the hop's `/proc/<pid>/smaps` when empty, when
 * held and when idle to `<prefix>.<hop>.empty`, `<prefix>.<hop>` and
 * `<prefix>.<hop>.idle`, for a breakdown by mapping.
 *
 * The source (a hop `gen` pushing over mutual TLS) and the relay's puller
 * (`recv`) run in this process; only the hop measured is a process of its own,
 * under its derived permissions and the hop V8 settings.
 */
import { listOf, scriptFlags, wholeNumber } from "./_args.ts";
import { sleep } from "../../core/mod.ts";
import { chainCerts, localHop, startDmz, stopAll } from "../kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "../kit/helpers.ts";
import { applyRound, pointId, roundValue, startSource } from "./_push_source.ts";
import { MosquittoProcess } from "../kit/mosquitto.ts";
import { loadAverage, sampleProcess } from "../kit/machine.ts";
import { measureRelayHop, statusLines } from "./relay_hop.ts";

/** The kinds of hop measured: what the hop under test does with the points it is pushed. */
export const memoryHops = ["relay", "mqtt", "opcua-server"] as const;
export type MemoryHop = typeof memoryHops[number];

/** The memory of one hop, in MB of anonymous memory (RssAnon) unless said otherwise. */
export interface MemoryRow {
  hop: MemoryHop;
  points: number;
  /** Started, its links up, no point yet. */
  emptyAnonMb: number;
  /** Highest sample (every 100 ms) while the snapshot and the changes went through it. */
  peakAnonMb: number;
  /** Every point held, as soon as the hop is quiet (two status lines without changes). */
  heldAnonMb: number;
  /** The same, `idleSeconds` later with nothing to do: after the hop gave memory back (core/memory_release.ts). */
  idleAnonMb: number;
  /**
   * Of the idle figure, the JavaScript heap in use, MB, as the hop's last
   * status line says it (whole MB; `null`: no status line read).
   */
  idleHeapMb: number | null;
  /** How long the hop's last memory release paused it, ms (`null`: none after the load). */
  releaseMs: number | null;
  /** (idle − empty) per point, bytes. */
  perPointB: number;
  /** Total RSS (anonymous and file-backed) when held, MB. */
  heldRssMb: number;
  /** Updates pushed (the snapshot and `rounds` changes to every point). */
  updates: number;
  /** How long the snapshot and the changes took to go through, ms. */
  loadMs: number;
}

/** A sustained flood through the relay: anonymous memory sampled every second. */
export interface FloodResult {
  seconds: number;
  points: number;
  /** Updates the relay reported applying per second, mean over the flood. */
  updatesPerS: number;
  /** RssAnon samples, MB, one a second. */
  anonMb: number[];
  /** Least-squares slope of the samples after the first third (warm-up), MB per minute. */
  slopeMbPerMin: number;
  /** Means of the samples of the first and the last third: steadier than single samples (a collection moves them ±10 MB). */
  firstThirdMb: number;
  lastThirdMb: number;
  maxMb: number;
}

/** What one run measured. */
export interface MemoryResult {
  rows: MemoryRow[];
  flood: FloodResult | null;
  loadAverage: string;
}

const mb = (kb: number) => Math.round(kb / 1024 * 10) / 10;

/** Least-squares slope of `ys` sampled at equal steps, per step. */
export function slope(ys: number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) {
    num += (i - mx) * (ys[i]! - my);
    den += (i - mx) ** 2;
  }
  return num / den;
}

/** The flags of the hop under test beyond its tunnel listener. */
function outputFlags(kind: MemoryHop, ports: { mqtt: number; opcua: number }): string[] {
  switch (kind) {
    case "relay":
      return [];
    case "mqtt":
      return ["--mqtt", `mqtt://127.0.0.1:${ports.mqtt}`, "--mqtt-allow-plaintext"];
    case "opcua-server":
      return ["--opcua-server", `127.0.0.1:${ports.opcua}`, "--opcua-server-anonymous"];
  }
}

/**
 * Waits until the hop's last two status lines say it holds `points` and is
 * quiet (its own link and adapter status points change a few times a second),
 * and the last says no point waits to be served.
 */
function settled(p: Proc, points: number, ms: number): Promise<unknown> {
  return waitFor(`hop at ${points} points and quiet`, () => {
    const l = statusLines(p).slice(-2);
    // An OPC UA server hop may still be making variables of points its store holds.
    const serving = p.lines.findLast((line) => /Status:/.test(line))?.includes(
      "waiting to be served",
    );
    return l.length === 2 && !serving && l.every((s) => s.points >= points && s.rate < 100)
      ? true
      : undefined;
  }, ms);
}

/** Waits for a status line of `p` matching `re`. */
function statusMatch(p: Proc, re: RegExp): Promise<unknown> {
  return waitFor(
    `a status line matching ${re}`,
    () =>
      statusLines(p).length > 0 && p.lines.some((l) => /Status:/.test(l) && re.test(l))
        ? true
        : undefined,
    20_000,
  );
}

/** Copies the hop's `/proc/<pid>/smaps` to `$MEMORY_SMAPS.<name>` when that variable is set. */
async function copySmaps(pid: number, name: string): Promise<void> {
  const prefix = Deno.env.get("MEMORY_SMAPS");
  if (prefix) await Deno.copyFile(`/proc/${pid}/smaps`, `${prefix}.${name}`);
}

/** Measures one hop kind: empty, peak while loaded, held and idle. */
async function measureHop(
  dir: string,
  kind: MemoryHop,
  o: { points: number; rounds: number; idleSeconds: number; brokerPort: number },
): Promise<MemoryRow> {
  const port = freePort();
  const peers = kind === "relay" ? "gen:push,recv:pull" : "gen:push";
  const extra = outputFlags(kind, { mqtt: o.brokerPort, opcua: freePort() });
  let hop: Proc | null = null;
  let timer: ReturnType<typeof setInterval> | undefined;
  try {
    hop = await startDmz(dir, port, peers, ["--status-interval", "1s", ...extra]);
    const pid = hop.child.pid;
    await using source = await startSource(dir, port);
    await using recv = kind === "relay"
      ? await localHop(dir, "recv", ["--pull", `dmz=127.0.0.1:${port}`, "--status-interval", "0"])
      : null;
    const h = hop;
    // Its link from the source, and its MQTT session or OPC UA endpoint, are up.
    const ready = { relay: /link:gen running\/connected/, mqtt: /mqtt\S* running\/connected/ };
    await statusMatch(h, kind === "mqtt" ? ready.mqtt : ready.relay);
    await sleep(5000);
    const empty = sampleProcess(pid);
    await copySmaps(pid, `${kind}.empty`);
    let peakKb = empty.anonKb;
    timer = setInterval(() => {
      peakKb = Math.max(peakKb, sampleProcess(pid).anonKb);
    }, 100);
    const t0 = performance.now();
    const linesBefore = h.lines.length;
    for (let r = 0; r <= o.rounds; r++) await applyRound(source.source, o.points, r);
    await settled(h, o.points, 120_000);
    if (recv) {
      const last = pointId(o.points - 1);
      const want = roundValue(o.rounds, o.points - 1);
      await waitFor(
        "the last change at the puller",
        () => recv.hop.store.get(last)?.value === want,
      );
    }
    const loadMs = Math.round(performance.now() - t0);
    clearInterval(timer);
    const held = sampleProcess(pid);
    await copySmaps(pid, kind);
    peakKb = Math.max(peakKb, held.anonKb);
    await sleep(o.idleSeconds * 1000);
    const idle = sampleProcess(pid);
    await copySmaps(pid, `${kind}.idle`);
    const heap = h.lines.findLast((l) => /Status:.* heap \d+ of/.test(l))?.match(/ heap (\d+) of/);
    const release = h.lines.slice(linesBefore).map((l) => /gave back heap, .* in (\d+) ms/.exec(l))
      .filter((m) => m)
      .at(-1);
    return {
      hop: kind,
      points: o.points,
      emptyAnonMb: mb(empty.anonKb),
      peakAnonMb: mb(peakKb),
      heldAnonMb: mb(held.anonKb),
      idleAnonMb: mb(idle.anonKb),
      idleHeapMb: heap ? Number(heap[1]) : null,
      releaseMs: release ? Number(release[1]) : null,
      perPointB: Math.round((idle.anonKb - empty.anonKb) * 1024 / o.points),
      heldRssMb: mb(held.rssKb),
      updates: o.points * (o.rounds + 1),
      loadMs,
    };
  } catch (e) {
    throw new Error(`${kind}: ${(e as Error).message}\n${hop?.output().slice(-3000) ?? ""}`);
  } finally {
    clearInterval(timer);
    await stopAll(hop);
  }
}

/**
 * Floods a relay for `seconds` with the relay benchmark's generator (recorded
 * frames of changes to every point, unpaced) and its anonymous memory once a second.
 */
async function measureFlood(points: number, seconds: number): Promise<FloodResult> {
  const r = await measureRelayHop({ points, rates: [0], secondsPerRate: seconds });
  const samples = r.anonSamplesMb;
  const third = Math.floor(samples.length / 3);
  const tail = samples.slice(third);
  const meanOf = (xs: number[]) =>
    xs.length === 0 ? 0 : Math.round(xs.reduce((a, b) => a + b, 0) / xs.length * 10) / 10;
  return {
    seconds,
    points,
    updatesPerS: r.forwardedPerS,
    anonMb: samples,
    slopeMbPerMin: Math.round(slope(tail) * 60 * 100) / 100,
    firstThirdMb: meanOf(samples.slice(0, third)),
    lastThirdMb: meanOf(samples.slice(samples.length - third)),
    maxMb: r.peakAnonMb,
  };
}

/** Runs the memory benchmark: each hop kind in turn, then the flood when `floodSeconds` > 0. */
export async function measureMemoryPerPoint(
  options: {
    points?: number;
    hops?: MemoryHop[];
    rounds?: number;
    idleSeconds?: number;
    floodSeconds?: number;
  } = {},
): Promise<MemoryResult> {
  const points = options.points ?? 100_000;
  const hops = options.hops ?? ["relay", "mqtt", "opcua-server"];
  await using dir = await tempDir("hopgate-bench-memory-");
  await chainCerts(dir.path, ["gen", "dmz", "recv"]);
  let broker: MosquittoProcess | null = null;
  try {
    const brokerPort = freePort();
    if (hops.includes("mqtt")) {
      broker = await MosquittoProcess.start({
        name: "bench broker",
        dir: dir.path,
        port: brokerPort,
      });
    }
    const rows: MemoryRow[] = [];
    for (const kind of hops) {
      rows.push(
        await measureHop(dir.path, kind, {
          points,
          rounds: options.rounds ?? 3,
          idleSeconds: options.idleSeconds ?? 8,
          brokerPort,
        }),
      );
    }
    const flood = (options.floodSeconds ?? 0) > 0
      ? await measureFlood(points, options.floodSeconds!)
      : null;
    return { rows, flood, loadAverage: loadAverage() };
  } finally {
    await broker?.stop();
  }
}

if (import.meta.main) {
  const values = scriptFlags({
    points: { type: "string", default: "100000" },
    hops: { type: "string", default: "relay,mqtt,opcua-server" },
    rounds: { type: "string", default: "3" },
    idle: { type: "string", default: "8" },
    flood: { type: "string", default: "0" },
  });
  const r = await measureMemoryPerPoint({
    points: wholeNumber("--points", values.points, 1),
    hops: listOf("--hops", values.hops, memoryHops),
    rounds: wholeNumber("--rounds", values.rounds, 1),
    idleSeconds: wholeNumber("--idle", values.idle),
    floodSeconds: wholeNumber("--flood", values.flood),
  });
  console.log(JSON.stringify(r, null, 2));
}
