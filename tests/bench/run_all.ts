/**
 * `deno task bench`: every figure of the performance targets (README.md's
 * Performance table; docs/benchmarks.md says how each is measured) in one
 * bounded run (about 4 minutes on the 2-core build machine), as one table of
 * figure, target, measured and ratio, also written as JSON under
 * tests/bench/results/ (git-ignored) so that runs can be compared.
 *
 *     deno run -A tests/bench/run_all.ts [--quick] [--only micro,checks,relay,memory,chain,latency,brokers,diode,opcua,opcua-server]
 *
 * Ratios are measured ÷ target for "at least" targets and target ÷ measured
 * for "below" targets: 1 or more means met. Prints numbers; never fails for being slow,
 * but exits 1 naming the phases that could not run at all.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatTable, writeJsonResult } from "./_report.ts";
import { quickPhases, runBrokerChain, type RunResult } from "./broker_chain.ts";
import { measureChain, type SnapshotRun } from "./hopgate_chain.ts";
import { machinePauses, measureLatency } from "./chain_latency.ts";
import { measureRelayHop } from "./relay_hop.ts";
import { measureMemoryPerPoint } from "./memory_per_point.ts";
import { measureChecks } from "./relay_checks.ts";
import { measureDiode } from "./diode.ts";
import { measureOpcuaServerUpdates } from "./opcua_server_updates.ts";
import { type PhaseUsage, withPhaseUsage } from "./_phase_usage.ts";
import {
  busiestKernelThreads,
  dataAccessMonitors,
  loadAverage,
  sampleKernelThreads,
} from "../kit/machine.ts";
import {
  checkPlcValues,
  type IngestCase,
  measureOpcuaHeld,
  measureOpcuaIngest,
} from "./opcua_ingest.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const quick = Deno.args.includes("--quick");
const onlyAt = Deno.args.indexOf("--only");
const only = onlyAt >= 0 ? new Set(Deno.args[onlyAt + 1]!.split(",")) : null;
const wanted = (part: string) => only === null || only.has(part);

/** The `deno bench` files whose figures the table shows. */
const microFiles = [
  "tunnel/frame_codec_bench.ts",
  "core/point_store_bench.ts",
  "tests/bench/relay_bench.ts",
];

/** One row of the table. */
interface Figure {
  figure: string;
  /** `>=` at least, `<` below, `info` no target. */
  kind: ">=" | "<" | "info";
  target: number | null;
  measured: number | null;
  unit: string;
  note?: string;
}

const figures: Figure[] = [];
const raw: Record<string, unknown> = {};

function add(f: Figure): void {
  figures.push(f);
}

function ratio(f: Figure): number | null {
  if (f.measured === null || f.target === null || f.kind === "info") return null;
  return f.kind === ">=" ? f.measured / f.target : f.target / f.measured;
}

const fmt = (x: number | null, unit: string) =>
  x === null ? "-" : `${x >= 100 ? Math.round(x).toLocaleString("en") : x.toFixed(2)} ${unit}`;

/** The lowest and highest of `xs`, as "a–b" (one value alone when they are equal). */
function span(xs: number[]): string {
  const lo = Math.min(...xs).toLocaleString("en"), hi = Math.max(...xs).toLocaleString("en");
  return lo === hi ? lo : `${lo}–${hi}`;
}

/**
 * "; busy: its link open after … ms, the set … ms later; the new hop's main
 * thread ran … ms and waited … ms for a CPU" for the new hops of one
 * condition, each part left out where its figures are missing.
 */
function snapshotParts(runs: SnapshotRun[], condition: string): string {
  const parts: string[] = [];
  const opened = runs.flatMap((r) =>
    r.openMs === null ? [] : [{ at: r.openMs, rest: r.ms - r.openMs }]
  );
  if (opened.length > 0) {
    parts.push(
      `its link open after ${span(opened.map((o) => o.at))} ms, the set ${
        span(opened.map((o) => o.rest))
      } ms later`,
    );
  }
  const main = runs.flatMap((r) => r.main === null ? [] : [r.main]);
  if (main.length > 0) {
    parts.push(
      `the new hop's main thread ran ${span(main.map((m) => m.runMs))} ms and waited ${
        span(main.map((m) => m.waitMs))
      } ms for a CPU`,
    );
  }
  return parts.length === 0 ? "" : `; ${condition}: ${parts.join("; ")}`;
}

function log(what: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${what}`);
}

/** Runs `deno bench --json` on the micro-benchmarks; the count in each name turns time into a rate. */
async function micro(): Promise<void> {
  log("micro-benchmarks (deno bench)");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["bench", "--allow-all", "--json", ...microFiles],
    cwd: root,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const doc = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    benches: { name: string; results: { ok?: { avg: number; p75: number } }[] }[];
  };
  raw.micro = doc.benches.map((b) => ({ name: b.name, ...b.results[0]?.ok }));
  for (const b of doc.benches) {
    const avgNs = b.results[0]?.ok?.avg;
    const count = Number(/([\d,]+) updates/.exec(b.name)?.[1]?.replaceAll(",", "") ?? NaN);
    if (!avgNs || !Number.isFinite(count)) continue;
    const relay = b.name.startsWith("relay");
    add({
      figure: b.name,
      kind: relay ? ">=" : "info",
      target: relay ? 1_000_000 : null,
      measured: count / (avgNs / 1e9),
      unit: "upd/s",
    });
  }
}

async function checks(): Promise<void> {
  log("relay hot path with and without the checks of received points (baseline worktree)");
  const r = await measureChecks({ runs: quick ? 1 : 3 });
  raw.checks = r;
  add({
    figure: "relay hot path with the checks of received points",
    kind: ">=",
    target: 1_000_000,
    measured: r.checkedPerS,
    unit: "upd/s",
    note: `${(r.baselinePerS / 1e6).toFixed(2)} M/s without them (${r.base}): ratio ${
      r.ratio.toFixed(2)
    }`,
  });
}

async function relay(): Promise<void> {
  log("relay hop process (stepped offered rates)");
  const r = await measureRelayHop(quick ? { secondsPerRate: 3 } : {});
  raw.relay = r;
  add({
    figure: "relay hop process over TLS: forwarded",
    kind: ">=",
    target: 1_000_000,
    measured: r.forwardedPerS,
    unit: "upd/s",
    note: r.steps.map((s) =>
      `${s.offeredPerS.toLocaleString("en")}→${s.forwardedPerS.toLocaleString("en")}${
        s.linkDropped ? " (link dropped)" : ""
      }`
    ).join(", "),
  });
  add({
    figure: `relay RSS at ${r.points.toLocaleString("en")} points (peak)`,
    kind: "info",
    target: null,
    measured: r.peakRssMb,
    unit: "MB",
    note: `empty ${r.emptyRssMb} MB, after the load ${r.idleRssMb} MB; anonymous (without ` +
      `the executable's pages) ${r.emptyAnonMb}, peak ${r.peakAnonMb}, after ${r.idleAnonMb} MB`,
  });
  add({
    figure: "relay CPU while forwarding",
    kind: "info",
    target: null,
    measured: r.cpuPct.relay,
    unit: "%",
    note: `receiver ${r.cpuPct.receiver}%, load ${r.cpuPct.load}%, others ${r.cpuPct.others}%`,
  });
}

/** Anonymous memory per 100,000 points: relay (the target), MQTT and OPC UA server hops, a flood. */
async function memory(): Promise<void> {
  log("anonymous memory per point: relay, MQTT hop, OPC UA server hop, relay under a flood");
  const r = await measureMemoryPerPoint({ floodSeconds: quick ? 10 : 20 });
  raw.memory = r;
  for (const row of r.rows) {
    add({
      figure: `${row.hop} hop anonymous memory at ${row.points.toLocaleString("en")} points, quiet`,
      kind: row.hop === "relay" ? "<" : "info",
      target: row.hop === "relay" ? 80 : null,
      measured: row.idleAnonMb,
      unit: "MB",
      note: `empty ${row.emptyAnonMb}, peak ${row.peakAnonMb}, ${row.heldAnonMb} MB as the load ` +
        `ended (${row.perPointB} B/point above empty)` +
        (row.idleHeapMb === null
          ? ""
          : `; JavaScript heap ${row.idleHeapMb} MB of the quiet figure`) +
        `; RSS ${row.heldRssMb} MB` +
        (row.releaseMs === null ? "" : `; its memory release took ${row.releaseMs} ms`),
    });
  }
  const f = r.flood;
  if (f) {
    add({
      figure: `relay anonymous memory under a ${f.seconds} s flood (last third)`,
      kind: "info",
      target: null,
      measured: f.lastThirdMb,
      unit: "MB",
      note:
        `first third ${f.firstThirdMb} MB, peak ${f.maxMb} MB, slope ${f.slopeMbPerMin} MB/min, ` +
        `${f.updatesPerS.toLocaleString("en")} upd/s forwarded`,
    });
  }
}

let chainPerS: number | null = null;

async function chain(): Promise<void> {
  log("three-process chain plant1 → dmz → it → mosquitto");
  const r = await measureChain({ seconds: quick ? 3 : 5 });
  raw.chain = r;
  chainPerS = r.atCloudPerS;
  add({
    figure: "chain over TLS into mosquitto: Sparkplug metrics/s at a cloud subscriber",
    kind: ">=",
    target: 300_000,
    measured: r.atCloudPerS,
    unit: "upd/s",
    note: `it hop applied ${r.atLastHopPerS.toLocaleString("en")}/s; sim asked ${
      r.simRate.toLocaleString("en")
    }/s, plant made ${r.plantPerS.toLocaleString("en")}/s${
      r.simBehind ? " (sim could not keep up)" : ""
    }; QoS 1${r.cloudBuffered ? "; it hop buffered to disk" : ""}`,
  });
  add({
    figure: `snapshot of ${r.points.toLocaleString("en")} points to a new hop (chain busy)`,
    kind: "<",
    target: 1000,
    measured: r.snapshotMs,
    unit: "ms",
    note: `median of ${r.busySnapshots.length} new hop processes (${
      span(r.busySnapshots.map((s) => s.ms))
    } ms); ${r.idleSnapshotMs.toLocaleString("en")} ms with the chain idle (${
      span(r.idleSnapshots.map((s) => s.ms))
    })${snapshotParts(r.busySnapshots, "busy")}${snapshotParts(r.idleSnapshots, "idle")}`,
  });
  for (const u of r.usage) {
    add({
      figure: `chain ${u.process}: RSS / CPU`,
      kind: "info",
      target: null,
      measured: u.rssMb,
      unit: "MB",
      note: `${u.cpuPct}% CPU`,
    });
  }
}

async function latency(): Promise<void> {
  log("latency source → dmz → it → last hop");
  const pauses = machinePauses(2000);
  raw.machinePauses = pauses;
  add({
    figure: "machine: longest pause of a busy loop in 2 s",
    kind: "info",
    target: null,
    measured: pauses.longestMs,
    unit: "ms",
    note:
      `${pauses.overOneMs} pauses over 1 ms; each such pause in a hop of the chain delays a burst of updates`,
  });
  const kernelBefore = sampleKernelThreads(), kernelFrom = performance.now();
  const rs = await measureLatency([10_000, 50_000], { seconds: quick ? 2 : 3 });
  raw.latency = rs;
  const kernel = busiestKernelThreads(
    kernelBefore,
    sampleKernelThreads(),
    (performance.now() - kernelFrom) / 1000,
  );
  raw.kernelThreads = kernel;
  const monitors = dataAccessMonitors();
  raw.dataAccessMonitors = monitors;
  if (kernel.length > 0) {
    add({
      figure: "machine: busiest kernel thread during the latency runs",
      kind: "info",
      target: null,
      measured: Math.round(kernel[0]![1] * 10) / 10,
      unit: "ms/s",
      note: `${
        kernel.map(([k, ms, perRun]) => `${k} ${ms.toFixed(1)} ms/s, ${perRun.toFixed(1)} ms a run`)
          .join(", ")
      }${
        monitors.length > 0 ? ` (${monitors.join("; ")})` : ""
      }; a kernel thread holds its core until it yields, and the updates that core was to carry wait behind it (see docs/benchmarks.md, tail latency)`,
    });
  }
  for (const r of rs) {
    add({
      figure: `p99 latency at ${r.ratePerS.toLocaleString("en")} upd/s`,
      // Issue 17: p99 below 5 ms at both rates, in the full run.
      kind: "<",
      target: 5,
      measured: r.p99Ms,
      unit: "ms",
      note:
        `p50 ${r.p50Ms} ms, max ${r.maxMs} ms, ${r.samples.toLocaleString("en")} samples${
          r.warmup
            ? ` after ${r.warmup.seconds} s at the rate (p99 ${r.warmup.p99Ms} ms, max ${r.warmup.maxMs} ms)`
            : ""
        }; ` +
        `the slowest 1% arrived in ${r.slowRuns.length} bursts (largest ${
          Math.max(0, ...r.slowRuns.map((x) => x[1]))
        })`,
    });
  }
}

async function brokers(): Promise<void> {
  const results: RunResult[] = [];
  // QoS 0 is mosquitto at its fastest; QoS 1 is what hopgate's chain gives the cloud (every
  // update acknowledged, nothing dropped on the way), so the like-for-like comparison.
  const variants = [
    { transport: "tcp", qos: 0 },
    { transport: "tls", qos: 0 },
    { transport: "tls", qos: 1 },
  ] as const;
  for (const { transport, qos } of variants) {
    log(`mosquitto chain, ${transport} bridges, QoS ${qos}`);
    try {
      results.push(await runBrokerChain({ transport, qos, limits: "default" }, quickPhases));
    } catch (e) {
      log(`broker chain (${transport}, QoS ${qos}) failed: ${(e as Error).message}`);
    }
  }
  raw.brokers = results;
  for (const r of results) {
    const lat = r.latency.map((l) => `p99 @${l.ratePerS / 1000}k ${l.p99Ms} ms`).join(", ");
    const name = `${r.transport.toUpperCase()}, QoS ${r.qos}`;
    add({
      figure: `mosquitto chain, ${r.transport.toUpperCase()} bridges, QoS ${r.qos}: max`,
      kind: "info",
      target: null,
      measured: r.flood.receivedPerS,
      unit: "upd/s",
      note: `${lat}; RSS ${r.flood.usage.slice(0, 3).map((u) => u.rssMb).join("/")} MB`,
    });
    if (chainPerS !== null) {
      // The design asks ≥ 3× mosquitto at its fastest over TLS; issue 17, ≥ 10× like for like.
      const target = r.transport === "tcp" ? null : r.qos === 0 ? 3 : 10;
      add({
        figure: `hopgate chain ÷ mosquitto chain (${name})`,
        kind: target === null ? "info" : ">=",
        target,
        measured: chainPerS / r.flood.receivedPerS,
        unit: "×",
        ...(r.droppedAt.length > 0
          ? { note: `mosquitto dropped at ${r.droppedAt.join(", ")}` }
          : {}),
      });
    }
  }
}

async function diode(): Promise<void> {
  log("data diode: updates/s at 0% and 5% loss, bandwidth against --diode-rate, convergence");
  const r = await measureDiode({ quick });
  raw.diode = r;
  for (const f of r.flows) {
    const limited = f.rateLimit < 8 * 1024 * 1024;
    add({
      figure: limited
        ? `diode wire bytes/s under --diode-rate ${f.rateLimit.toLocaleString("en")}`
        : `diode updates/s at ${f.loss * 100}% loss`,
      kind: "info",
      target: null,
      measured: limited ? f.wirePerS : f.appliedPerS,
      unit: limited ? "B/s" : "upd/s",
      note: `${f.appliedPerS.toLocaleString("en")} upd/s applied, ${
        f.packetsPerS.toLocaleString("en")
      } packets/s, ${f.gaps} gaps, ${f.repaired} repaired by parity`,
    });
  }
  const c = r.convergence;
  for (const [i, run] of c.runs.entries()) {
    add({
      figure: `diode: ${c.points.toLocaleString("en")} points held after ${
        i === 0 ? "a receiver's start" : "a receiver restart"
      } (carousel ${c.carouselMs / 1000} s)`,
      kind: "info",
      target: null,
      measured: run.heldMs,
      unit: "ms",
      note: `all Good after ${run.goodMs ?? "-"} ms; ${run.gaps} gaps`,
    });
  }
}

async function opcua(): Promise<void> {
  log(
    "OPC UA ingest: a plant hop reading the fast PLC (first its check: the hop holds its values)",
  );
  const check = await checkPlcValues();
  raw.opcuaCheck = check;
  if (check.wrong.length > 0) {
    throw new Error(`the hop does not hold the PLC's last values: ${check.wrong.join("; ")}`);
  }
  const sae = "SignAndEncrypt:Basic256Sha256";
  const cases: IngestCase[] = [
    { items: 100_000, churnMs: 100, security: sae },
    ...quick ? [] : [
      // The same hop started by hand, without the systemd unit's malloc settings (hopEnvFor).
      { items: 100_000, churnMs: 100, security: sae, mallocDefaults: true },
      { items: 100_000, churnMs: 100, security: "None" },
      { items: 100_000, churnMs: 1000, security: sae },
      { items: 10_000, churnMs: 100, security: sae },
    ],
  ];
  const rs = await measureOpcuaIngest(cases, { seconds: quick ? 5 : 8 });
  raw.opcua = rs;
  const k = (n: number) => Math.round(n).toLocaleString("en");
  for (const r of rs) {
    const main = r.items === 100_000 && r.churnMs === 100 && r.security === sae &&
      !r.mallocDefaults;
    add({
      figure: `OPC UA ingest, ${k(r.items)} items every ${r.churnMs} ms, ${
        r.security.split(":")[0]
      }${r.mallocDefaults ? ", malloc defaults" : ""}: changes/s`,
      kind: main ? ">=" : "info",
      target: main ? 250_000 : null,
      measured: r.ingested.median,
      unit: "upd/s",
      note: `median of ${r.ingested.samples} s (${k(r.ingested.min)}–${k(r.ingested.max)}); PLC ` +
        `sent ${
          k(r.offeredPerS)
        }/s at ${r.plcCpuPct}% CPU; hop ${r.hopCpuPct}% CPU, ${r.hopPeakRssMb} MB` +
        ` RSS; others ${r.othersCpuPct}%${r.lost ? "; CONNECTION LOST" : ""}`,
    });
  }
  const main = rs[0]!;
  add({
    figure: "OPC UA subscribe 100,000 items (CreateMonitoredItems)",
    kind: "<",
    target: 10_000,
    measured: main.subscribeMs,
    unit: "ms",
    note: `Connected ${k(main.connectMs)} ms after the hop's start (browse and read ${
      k(main.readMs)
    } ms)`,
  });
  add({
    figure: "OPC UA hop RSS at 100,000 items every 100 ms (peak)",
    kind: "<",
    target: 200,
    measured: main.hopPeakRssMb,
    unit: "MB",
    note: `anonymous ${main.hopPeakAnonMb} MB; last status: ${main.hopMemory}`,
  });
  const byHand = rs.find((r) => r.mallocDefaults);
  if (byHand) {
    add({
      figure: "… the same, glibc malloc defaults (no MALLOC_ARENA_MAX, a binary started by hand)",
      kind: "info",
      target: null,
      measured: byHand.hopPeakRssMb,
      unit: "MB",
      note:
        `anonymous ${byHand.hopPeakAnonMb} MB; hop ${byHand.hopCpuPct}% CPU (${main.hopCpuPct}% ` +
        `with it); last status: ${byHand.hopMemory}`,
    });
  }
  const held = await measureOpcuaHeld([1_000, 100_000]);
  raw.opcuaHeld = held;
  const [small, large] = [held[0]!, held[1]!];
  add({
    figure: "OPC UA hop RSS holding 100,000 items, quiet (ingest's working memory aside)",
    kind: "<",
    target: 200,
    measured: large.rssMb,
    unit: "MB",
    note:
      `anonymous ${large.anonMb} MB; with 1,000 items ${small.rssMb} MB RSS, ${small.anonMb} MB ` +
      `anonymous; ${
        Math.round((large.anonMb - small.anonMb) * 1024 * 1024 / 99_000)
      } B anonymous per item; ${large.release ?? "no memory release seen"}`,
  });
  add({
    figure: `OPC UA PLC check: the hop holds all ${k(check.items)} last values`,
    kind: "info",
    target: null,
    measured: check.settledMs,
    unit: "ms",
    note: `frozen at tick ${check.tick}; every value equal`,
  });
}

/**
 * An OPC UA server hop serving one subscriber of 50,000 items sampled every
 * 100 ms (what SCADA clients commonly ask): its CPU with nothing changing, and
 * the changes/s the subscriber receives at 50,000 and 200,000 asked.
 */
async function opcuaServer(): Promise<void> {
  const [run] = await measureOpcuaServerUpdates({
    points: 50_000,
    sampling: [100],
    rates: quick ? [0, 200_000] : [0, 50_000, 200_000],
    seconds: quick ? 4 : 6,
  });
  raw.opcuaServer = run;
  const k = (n: number) => Math.round(n).toLocaleString("en");
  for (const step of run!.steps) {
    const usage = `server hop ${step.serverCpuPct}% CPU, peak RSS ${step.serverPeakRssMb} MB` +
      ` (${step.serverPeakAnonMb} MB anonymous); subscriber ${step.subscriberCpuPct}% CPU;` +
      ` others ${step.othersCpuPct}%${step.lost ? "; CONNECTION LOST" : ""}`;
    if (step.ratePerS === 0) {
      add({
        figure:
          "OPC UA server hop, a subscriber of 50,000 items sampled every 100 ms, nothing changing: CPU",
        kind: "info",
        target: null,
        measured: step.serverCpuPct,
        unit: "%",
        note: `${usage}; subscribed in ${k(run!.subscribeMs)} ms`,
      });
      continue;
    }
    add({
      figure: `OPC UA server hop, that subscriber, ${k(step.ratePerS)} changes/s asked: received`,
      kind: "info",
      target: null,
      measured: step.received.median,
      unit: "upd/s",
      note: `median of ${step.received.samples} s (${k(step.received.min)}–${
        k(step.received.max)
      }); ${k(step.madePerS)}/s made; ${usage}`,
    });
  }
}

if (import.meta.main) {
  const t0 = performance.now();
  const loadavg = loadAverage();
  const parts: [string, () => Promise<void>][] = [
    ["micro", micro],
    ["checks", checks],
    ["relay", relay],
    ["memory", memory],
    ["chain", chain],
    ["latency", latency],
    ["brokers", brokers],
    ["diode", diode],
    ["opcua", opcua],
    ["opcua-server", opcuaServer],
  ];
  const phases: PhaseUsage[] = [];
  for (const [name, run] of parts) {
    if (!wanted(name)) continue;
    const { usage, ...failure } = await withPhaseUsage(name, run);
    phases.push(usage);
    log(
      `${name}: ${usage.seconds} s, load ${usage.loadBefore} → ${usage.loadAfter}, ` +
        `this benchmark ${usage.oursPct}% of a core, others ${usage.othersPct}%`,
    );
    if ("error" in failure) {
      const e = failure.error;
      log(`${name} failed: ${(e as Error).stack ?? e}`);
      raw[`${name}Error`] = String(e);
    }
  }
  const rows = [["figure", "target", "measured", "ratio", "notes"]];
  for (const f of figures) {
    const r = ratio(f);
    rows.push([
      f.figure,
      f.kind === "info" ? "-" : `${f.kind} ${fmt(f.target, f.unit)}`,
      fmt(f.measured, f.unit),
      r === null ? "-" : `${r.toFixed(2)}${r >= 1 ? "" : " NOT MET"}`,
      f.note ?? "",
    ]);
  }
  const seconds = Math.round((performance.now() - t0) / 1000);
  const loadAfter = loadAverage();
  console.log(
    `hopgate benchmarks: Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, ` +
      `load average ${loadavg} before, ${loadAfter} after, ${seconds} s`,
  );
  console.log(formatTable(rows));
  console.log(
    "\n" + formatTable([
      ["phase", "seconds", "load before → after", "this benchmark", "others"],
      ...phases.map((p) => [
        p.phase,
        String(p.seconds),
        `${p.loadBefore} → ${p.loadAfter}`,
        `${p.oursPct}%`,
        `${p.othersPct}%`,
      ]),
    ]),
  );
  const path = await writeJsonResult("run_all", ["--json"], {
    deno: Deno.version.deno,
    cores: navigator.hardwareConcurrency,
    loadavg: { before: loadavg, after: loadAfter },
    seconds,
    quick,
    phases,
    figures: figures.map((f) => ({ ...f, ratio: ratio(f) })),
    raw,
  });
  console.log(`wrote ${join(path ?? "")}`);
  // Slow figures never fail the run; a phase that could not run at all does, loudly.
  const failed = parts.map(([name]) => name).filter((name) => `${name}Error` in raw);
  if (failed.length > 0) {
    console.error(
      `BENCH PHASES FAILED: ${failed.join(", ")} (their figures are missing above; see the log)`,
    );
    Deno.exit(1);
  }
}
