/**
 * Baseline for hopgate's chain: three mosquitto brokers bridged plant → dmz ← it
 * (the plant and the it broker both dial the dmz), once over plain TCP bridges
 * and once over mutual-TLS bridges. Measures end-to-end updates/s when flooded,
 * latency percentiles at fixed rates, and each broker's RSS and CPU.
 *
 *     deno run -A tests/bench/broker_chain.ts [--json [out.json]] [--quick]
 *
 * Prints numbers; never fails for being slow. See docs/benchmarks.md.
 */
import { sleep } from "../../core/mod.ts";
import { tempDir } from "../kit/helpers.ts";
import { connect, now, percentile, pointTopics, Publisher, Subscriber } from "./_load.ts";
import { BrokerChain, mosquittoPath } from "../kit/mosquitto.ts";
import { loadAverage, type ResourceSample, sampleMachine, sampleProcess } from "../kit/machine.ts";
import { formatTable, writeJsonResult } from "./_report.ts";
import { median } from "./_stats.ts";

/** One process's use of memory and CPU over a phase. */
export interface Usage {
  process: string;
  /** Highest RSS sampled during the phase, MB. */
  rssMb: number;
  /** CPU time over the phase divided by its length, % of one core. */
  cpuPct: number;
}

/** One fixed-rate latency measurement. */
interface LatencyResult {
  ratePerS: number;
  sent: number;
  received: number;
  /** False if updates were still arriving when the drain gave up: some "lost" were late. */
  drained: boolean;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Which chain to measure. */
export interface Variant {
  transport: "tcp" | "tls";
  qos: 0 | 1;
  /**
   * mosquitto's defaults (20 messages in flight and 1,000 queued per client,
   * bridges included), or raised limits (`tuned` lines) as one would for bulk
   * point data.
   */
  limits: "default" | "tuned";
}

const tuned = ["max_inflight_messages 1000", "max_queued_messages 100000"];

/** Everything measured for one variant. */
export interface RunResult extends Variant {
  flood: {
    seconds: number;
    sent: number;
    received: number;
    lossPct: number;
    /** False if updates were still arriving when the drain gave up: some "lost" were late. */
    drained: boolean;
    /** Median over 1 s windows of updates received per second while flooding. */
    receivedPerS: number;
    /** Each 1 s window's updates received per second. */
    windowsPerS: number[];
    /**
     * Updates carried per second of CPU used by the three brokers together:
     * less sensitive than updates/s to other work on the machine.
     */
    perBrokerCpuS: number;
    usage: Usage[];
  };
  latency: LatencyResult[];
  /** Brokers that logged "Outgoing messages are being dropped". */
  droppedAt: string[];
}

/** How long each phase of one variant runs. */
export interface Phases {
  /** Flooding, in whole seconds' worth of ms (one window per second). */
  floodMs: number;
  /** Each paced rate. */
  pacedMs: number;
}

/** The phases of a full run and of a `--quick` one. */
export const fullPhases: Phases = { floodMs: 5_000, pacedMs: 3_000 };
export const quickPhases: Phases = { floodMs: 2_000, pacedMs: 1_500 };

/** The paced rates, updates/s. */
export const rates = [10_000, 50_000];
/** Point topics the publisher cycles through. */
export const pointCount = 10_000;

/** Samples `pids` every 200 ms while `work` runs; returns their usage, and the rest of the machine's. */
export async function measure(
  pids: Record<string, number>,
  work: () => Promise<void>,
): Promise<Usage[]> {
  const peak: Record<string, number> = {};
  const take = () => {
    const s: Record<string, ResourceSample> = {};
    for (const [name, pid] of Object.entries(pids)) {
      s[name] = sampleProcess(pid);
      peak[name] = Math.max(peak[name] ?? 0, s[name].rssKb);
    }
    return s;
  };
  const first = take();
  const machine0 = sampleMachine();
  const timer = setInterval(take, 200);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const last = take();
  const machine1 = sampleMachine();
  const ours = Object.keys(pids).map((name) => ({
    process: name,
    rssMb: round(peak[name]! / 1024, 1),
    cpuPct: round(
      (last[name]!.cpuMs - first[name]!.cpuMs) / (last[name]!.at - first[name]!.at) * 100,
      0,
    ),
  }));
  // Whatever else ran on the machine meanwhile: busy CPU not accounted to us.
  const busyPct = (machine1.busyMs - machine0.busyMs) / (machine1.at - machine0.at) * 100;
  const oursPct = ours.reduce((a, u) => a + u.cpuPct, 0);
  return [...ours, {
    process: "others",
    rssMb: 0,
    cpuPct: Math.max(0, round(busyPct - oursPct, 0)),
  }];
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Starts one broker chain, floods it, paces it at each of {@link rates}, and stops it. */
export async function runBrokerChain(
  variant: Variant,
  phases: Phases = fullPhases,
): Promise<RunResult> {
  const { transport, qos } = variant;
  const { floodMs, pacedMs } = phases;
  await using dir = await tempDir(`hopgate-broker-chain-${transport}-`);
  await using chain = await BrokerChain.start({
    dir: dir.path,
    tls: transport === "tls",
    qos,
    topics: ["plant1/#"],
    brokers: 3,
    ...(variant.limits === "tuned" ? { extra: tuned } : {}),
  });
  const sub = new Subscriber(await connect(chain.last.port));
  const pubClient = await connect(chain.plant.port);
  try {
    await sub.client.subscribeAsync("plant1/#", { qos });
    const pub = new Publisher(pubClient, pointTopics(pointCount), qos);
    // Wait until both bridges carry messages, then start counting afresh.
    const deadline = now() + 10_000;
    while (sub.received === 0) {
      if (now() > deadline) {
        throw new Error(
          `The chain never delivered:\n${chain.brokers.map((b) => b.log()).join("")}`,
        );
      }
      await pub.batch(1);
      await sleep(20);
    }
    await sub.drain(200);

    sub.reset();
    pub.seq = 0;
    const start = now();
    const windowsPerS: number[] = [];
    const usage = await measure(
      {
        plant: chain.plant.pid,
        dmz: chain.dmz.pid,
        it: chain.last.pid,
        "load (deno)": Deno.pid,
      },
      async () => {
        for (let w = 0; w < floodMs / 1000; w++) {
          const [t0, r0] = [now(), sub.received];
          await pub.flood(sub, 1_000);
          windowsPerS.push(Math.round((sub.received - r0) / ((now() - t0) / 1000)));
        }
      },
    );
    const seconds = (now() - start) / 1000;
    const receivedInFlood = sub.received;
    const drained = await sub.drain(300, 4_000);
    const sent = pub.seq;
    const flood = {
      seconds: round(seconds, 2),
      sent,
      received: sub.received,
      lossPct: round((1 - sub.received / sent) * 100, 2),
      drained,
      receivedPerS: Math.round(median(windowsPerS)),
      windowsPerS,
      perBrokerCpuS: Math.round(
        receivedInFlood / seconds / (usage.slice(0, 3).reduce((a, u) => a + u.cpuPct, 0) / 100),
      ),
      usage,
    };

    const latency: LatencyResult[] = [];
    for (const rate of rates) {
      await sub.drain(300, 4_000);
      sub.reset();
      pub.seq = 0;
      await pub.paced(rate, pacedMs);
      const drained = await sub.drain(300, 3_000);
      latency.push({
        ratePerS: rate,
        sent: pub.seq,
        received: sub.received,
        drained,
        p50Ms: round(percentile(sub.latencies, sub.latencyCount, 0.5), 2),
        p99Ms: round(percentile(sub.latencies, sub.latencyCount, 0.99), 2),
        maxMs: round(percentile(sub.latencies, sub.latencyCount, 1), 2),
      });
    }
    const droppedAt = chain.brokers.filter((b) => /messages are being dropped/.test(b.log()))
      .map((b) => b.name);
    return { ...variant, flood, latency, droppedAt };
  } finally {
    await Promise.all([pubClient.endAsync(true), sub.client.endAsync(true)]);
  }
}

function table(results: RunResult[]): string {
  const rows = [[
    "bridges",
    "QoS",
    "limits",
    "max recv/s",
    "per broker-CPU-s",
    "loss",
    "p50/p99 @10k/s",
    "p50/p99 @50k/s",
    "RSS MB plant/dmz/it",
    "CPU % plant/dmz/it/load/others",
    "dropped at",
  ]];
  for (const r of results) {
    const lat = (rate: number) => {
      const l = r.latency.find((x) => x.ratePerS === rate)!;
      const lost = l.sent - l.received;
      return `${l.p50Ms}/${l.p99Ms} ms${lost > 0 ? ` (${lost} lost${l.drained ? "" : "*"})` : ""}`;
    };
    const u = r.flood.usage;
    rows.push([
      r.transport.toUpperCase(),
      String(r.qos),
      r.limits,
      r.flood.receivedPerS.toLocaleString("en"),
      r.flood.perBrokerCpuS.toLocaleString("en"),
      `${r.flood.lossPct}%${r.flood.drained ? "" : "*"}`,
      lat(10_000),
      lat(50_000),
      u.slice(0, 3).map((x) => x.rssMb).join("/"),
      u.map((x) => x.cpuPct).join("/"),
      r.droppedAt.join(",") || "-",
    ]);
  }
  return formatTable(rows);
}

async function mosquittoVersion(): Promise<string> {
  const out = await new Deno.Command(mosquittoPath, { args: ["-h"], stdout: "piped" }).output();
  return /version (\S+)/.exec(new TextDecoder().decode(out.stdout))?.[1] ?? "unknown";
}

if (import.meta.main) {
  const { floodMs, pacedMs } = Deno.args.includes("--quick") ? quickPhases : fullPhases;
  const results: RunResult[] = [];
  // Other work on the machine skews every number here; print it with them.
  const loadavg = loadAverage();
  for (const transport of ["tcp", "tls"] as const) {
    for (const [qos, limits] of [[0, "default"], [1, "default"], [1, "tuned"]] as const) {
      console.error(`broker chain: ${transport} bridges, QoS ${qos}, ${limits} limits …`);
      results.push(await runBrokerChain({ transport, qos, limits }, { floodMs, pacedMs }));
    }
  }
  console.log(
    `mosquitto chain plant → dmz ← it, ${pointCount.toLocaleString("en")} point topics, ` +
      `flood ${floodMs / 1000} × 1 s (median shown), paced ${pacedMs / 1000} s per rate, ` +
      `${navigator.hardwareConcurrency} cores, load average before: ${loadavg}`,
  );
  console.log(table(results));
  console.log(
    "* updates were still arriving when the drain gave up (3-4 s): some counted lost were late",
  );
  const path = await writeJsonResult("broker_chain", Deno.args, {
    deno: Deno.version.deno,
    mosquitto: await mosquittoVersion(),
    cores: navigator.hardwareConcurrency,
    loadavg,
    pointCount,
    floodMs,
    pacedMs,
    tunedLimits: tuned,
    results,
  });
  if (path) console.log(`wrote ${path}`);
}
