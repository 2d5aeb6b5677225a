/**
 * The soak: the whole chain (PLC → plant1 → dmz ← it → mosquitto, each hop
 * its own process) under steady load for `--minutes` (default 10), with
 * faults injected in turn: link cut, black hole, PLC restart, broker
 * restart, dmz kill, certificate rotation, a burst of new points and one of
 * removed points. Every hop is sampled each second (RSS, heap, descriptors,
 * sockets, timers, event-loop delay); the report gives per-hour slopes after
 * warm-up, each fault's detection and recovery times, and whether every view
 * (the dmz's set, it's set, the cloud's Sparkplug metrics) equals the source
 * point by point and status by status at the end.
 *
 *     deno task soak [--minutes N] [--json report.json]
 *
 * Certificate rotation: `hopgate certs renew` gives the dmz a new certificate
 * and key, and SIGHUP makes it reload them without a restart.
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { isGood, sameValue, sleep, statusName, type StoredPoint } from "../../core/mod.ts";
import { tempDir, waitFor } from "../kit/helpers.ts";
import { hopNames, loadId, SoakChain } from "./_chain.ts";
import {
  measures,
  medianOf,
  perHour,
  type Sample,
  Sampler,
  type Series,
  seriesOf,
} from "./_sampler.ts";

/** What a soak run is asked to do. */
export interface SoakOptions {
  minutes: number;
  /** Updates per second of line2's steady load (default 500). */
  loadRate?: number;
  /** line2's load points (default 500). */
  loadPoints?: number;
  /** PLC variables (default 60). */
  plcCount?: number;
  /** Points per burst (default 1000). */
  burst?: number;
  /** Warm-up dropped before slopes are fitted, ms (default: 2 min, or a quarter of a short run). */
  warmupMs?: number;
  /** Progress lines (default: console.log). */
  log?: (line: string) => void;
  /** Ends the fault cycles early (Ctrl-C): the final check and the report still come. */
  signal?: AbortSignal;
}

/** One injected fault's outcome. */
export interface FaultResult {
  name: string;
  cycle: number;
  /** ms from injection until the last hop's view showed it (absent: not expected to show). */
  detectMs?: number;
  /** ms from the restore until the views were whole and fresh again. */
  recoverMs?: number;
  error?: string;
}

/** A hop's figures over the run. */
export interface HopFigures {
  hop: string;
  processes: number;
  /** Length of the longest-lived process's series after warm-up, s. */
  seriesS: number;
  /** Growth per hour of the longest-lived process, after warm-up. */
  perHour: Record<string, number>;
  /** Median in the first and last minute of that series. */
  first: Record<string, number>;
  last: Record<string, number>;
  loopMaxMs: number;
  loopMeanMs: number;
  /**
   * The same figures at checkpoints (the chain whole before each fault) of
   * the process with most of them: first, last and the fitted growth per hour.
   */
  steady: Record<string, { first: number; last: number; perHour: number }>;
  checkpoints: number;
}

/** The soak's report. */
export interface SoakReport {
  minutes: number;
  startedAt: string;
  endedAt: string;
  loadRate: number;
  loadUpdates: number;
  cloudMessages: number;
  machineLoad: { min: number; median: number; max: number; cores: number };
  hops: HopFigures[];
  faults: FaultResult[];
  /** Differences between the views and the source at the end (empty: equal). */
  differences: string[];
  /** Points the cloud still shows that the source no longer has. */
  cloudExtras: number;
  points: number;
  leakWarnings: string[];
}

/** A fault: inject, what shows it, how long it is held, restore, what shows recovery. */
interface Fault {
  name: string;
  inject: () => Promise<unknown>;
  /** Whether the last hop shows the fault now; absent: not expected to show. */
  shown?: () => boolean;
  holdMs: number;
  restore: () => Promise<unknown>;
  /** Whether the views are whole and fresh again, given the restore time. */
  recovered: (since: number) => boolean;
}

const faultTimeout = 30_000;

/** Runs the soak and returns its report; parts are stopped whatever happens. */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? console.log;
  const loadRate = o.loadRate ?? 500;
  const durationMs = o.minutes * 60_000;
  const warmupMs = o.warmupMs ?? Math.min(120_000, durationMs / 4);
  await using dir = await tempDir("hopgate-soak-");
  const startedAt = new Date();
  const chain = await SoakChain.start(dir.path, {
    plcCount: o.plcCount ?? 60,
    loadPoints: o.loadPoints ?? 500,
    loadRate,
    seconds: Math.ceil(durationMs / 1000) + 900,
  });
  const t0 = Date.now();
  const loads: number[] = [];
  const loadTimer = setInterval(() => loads.push(loadAverage()), 5000);
  loads.push(loadAverage());
  const sampler = new Sampler(t0, () =>
    hopNames.map((name) => ({
      name,
      pid: chain.procs[name]?.child.pid,
      statusPort: chain.ports.status[name],
    })));
  const faults: FaultResult[] = [];
  let differences: string[] = [];
  let cloudExtras = 0;
  try {
    chain.startLoad();
    sampler.start();
    const ops = () => chain.ops!.hop.store;
    const plcIds = chain.plcPoints().map((p) => p.id);
    const counterId = plcIds.at(-2)!;
    const loadIds = Array.from({ length: o.loadPoints ?? 500 }, (_, i) => loadId(i));
    const allGood = (ids: string[]) =>
      ids.every((id) => {
        const p = ops().get(id);
        return p !== undefined && isGood(p.status);
      });
    const notGood = (ids: string[]) => ids.some((id) => !isGood(ops().get(id)?.status ?? 0));
    const freshSince = (id: string, since: number) => (ops().get(id)?.time ?? 0) > since;
    const whole = (since: number) =>
      allGood(plcIds) && allGood(loadIds) && freshSince(counterId, since) &&
      loadIds.some((id) => freshSince(id, since));
    await waitFor("the chain to carry every point at the last hop", () => whole(0), 60_000);
    log(`soak: chain up in ${Date.now() - startedAt.getTime()} ms; running ${o.minutes} min`);

    let round = 0;
    let reloadsBefore = 0;
    const burst: Fault = {
      name: `burst of ${o.burst ?? 1000} new points`,
      inject: () => Promise.resolve(chain.addBurst(o.burst ?? 1000)),
      holdMs: 0,
      restore: () => Promise.resolve(),
      recovered: () =>
        allGood(chain.burst) && chain.obs!.hop.store.get(chain.burst.at(-1)!) !== undefined,
    };
    const gone = () =>
      removed.every((id) =>
        ops().get(id) === undefined && chain.obs!.hop.store.get(id) === undefined
      );
    const cycle: Fault[] = [
      {
        name: "link cut (plant1→dmz)",
        inject: () => Promise.resolve(chain.plantProxy.cut()),
        shown: () => notGood(plcIds),
        holdMs: 2000,
        restore: () => Promise.resolve(chain.plantProxy.restore()),
        recovered: whole,
      },
      {
        name: "black hole (it→dmz)",
        inject: () => Promise.resolve(chain.itProxy.blackHole()),
        shown: () => notGood(plcIds) && notGood(loadIds),
        holdMs: 3000,
        restore: () => Promise.resolve(chain.itProxy.restore()),
        recovered: whole,
      },
      {
        name: "PLC restart",
        inject: () => chain.plc.proc.stop("SIGKILL"),
        shown: () => notGood(plcIds),
        holdMs: 1000,
        restore: () => chain.restartPlc().catch(() => chain.restartPlc()),
        recovered: whole,
      },
      {
        name: "broker restart",
        inject: () => chain.broker.stop(),
        shown: () => ops().get("it/$mqtt/connected")?.value === false,
        holdMs: 2000,
        restore: () => chain.broker.start(),
        recovered: (since) =>
          ops().get("it/$mqtt/connected")?.value === true &&
          chain.cloud!.nodeBirths.some((t) => t > since) &&
          chain.cloud!.devices.get("plant1:plc")?.alive === true,
      },
      {
        name: "dmz kill and restart",
        inject: () => chain.stopHop("dmz", "SIGKILL"),
        shown: () => notGood(plcIds) && notGood(loadIds),
        holdMs: 2000,
        restore: () => chain.startHop("dmz"),
        recovered: whole,
      },
      {
        name: "certificate rotation (dmz renewed, SIGHUP, no restart)",
        inject: async () => {
          reloadsBefore = await chain.renewCert("dmz");
        },
        holdMs: 0,
        restore: () => Promise.resolve(),
        recovered: (since) => chain.reloads("dmz") > reloadsBefore && whole(since),
      },
      burst,
      {
        name: `burst of ${o.burst ?? 1000} removed points`,
        inject: () => Promise.resolve(),
        holdMs: 0,
        restore: () => Promise.resolve(removed = chain.removeBurst()),
        recovered: gone,
      },
      burst,
      {
        // The chain is broken where the relay holds no state: the removal reaches the
        // downstream hops only by the relay saying it holds line2's set whole again.
        name: `${o.burst ?? 1000} points removed while the dmz is down`,
        inject: async () => {
          await chain.stopHop("dmz", "SIGKILL");
          removed = chain.removeBurst();
        },
        shown: () => notGood(loadIds),
        holdMs: 1000,
        restore: () => chain.startHop("dmz"),
        recovered: (since) => whole(since) && gone(),
      },
    ];
    let removed: string[] = [];
    const over = () => Date.now() - t0 >= durationMs || o.signal?.aborted === true;
    while (!over() || round === 0) {
      for (const f of cycle) {
        if ((round > 0 && over()) || o.signal?.aborted) break;
        faults.push(await runFault(f, round, whole, () => sampler.checkpoint()));
        const r = faults.at(-1)!;
        log(
          `soak: ${Math.round((Date.now() - t0) / 1000)} s ${r.name}: ${
            r.error ??
              `shown after ${r.detectMs?.toFixed(0) ?? "-"} ms, whole again ${
                r.recoverMs?.toFixed(0)
              } ms after restore`
          }`,
        );
        await sleep(2000);
      }
      round++;
    }

    // The end: the load stops, then every view must equal the source.
    chain.stopLoad();
    const check = await finalCheck(chain);
    differences = check.differences;
    cloudExtras = check.cloudExtras;
  } finally {
    sampler.stop();
    clearInterval(loadTimer);
    loads.push(loadAverage());
    await chain.close();
  }
  const leakWarnings = chain.history.flatMap((p) =>
    p.lines.filter((l) => /MaxListenersExceeded|memory leak detected/i.test(l))
  );
  const sorted = [...loads].sort((a, b) => a - b);
  return {
    minutes: o.minutes,
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    loadRate,
    loadUpdates: chain.loadUpdates,
    cloudMessages: chain.cloud?.messages ?? 0,
    machineLoad: {
      min: sorted[0] ?? NaN,
      median: sorted[Math.floor(sorted.length / 2)] ?? NaN,
      max: sorted.at(-1) ?? NaN,
      cores: navigator.hardwareConcurrency,
    },
    hops: hopNames.map((h) =>
      figures(h, sampler.samples.get(h) ?? [], sampler.checkpoints.get(h) ?? [], warmupMs)
    ),
    faults,
    differences,
    cloudExtras,
    points: chain.plcPoints().length + (o.loadPoints ?? 500),
    leakWarnings,
  };
}

/** Injects one fault and measures when it shows and when the chain is whole again. */
async function runFault(
  f: Fault,
  cycle: number,
  whole: (since: number) => boolean,
  checkpoint: () => Promise<void>,
): Promise<FaultResult> {
  const r: FaultResult = { name: f.name, cycle };
  let restored = false;
  try {
    await waitFor(`the chain to be whole before ${f.name}`, () => whole(0), faultTimeout);
    await checkpoint();
    const t0 = performance.now();
    await f.inject();
    if (f.shown) {
      await waitFor(`${f.name} to show at the last hop`, f.shown, faultTimeout);
      r.detectMs = performance.now() - t0;
    }
    const held = performance.now() - t0;
    if (held < f.holdMs) await sleep(f.holdMs - held);
    const since = Date.now();
    const t1 = performance.now();
    restored = true;
    await f.restore();
    await waitFor(`the chain to be whole after ${f.name}`, () => f.recovered(since), faultTimeout);
    r.recoverMs = performance.now() - t1;
  } catch (e) {
    r.error = (e as Error).message;
    // Whatever failed before the restore, the next fault starts from a restored chain.
    if (!restored) await f.restore().catch(() => {});
  }
  return r;
}

/** Compares the dmz's and it's sets and the cloud with the source, waiting up to a minute. */
async function finalCheck(
  chain: SoakChain,
): Promise<{ differences: string[]; cloudExtras: number }> {
  let differences: string[] = [];
  let cloudExtras = 0;
  const deadline = Date.now() + 60_000;
  do {
    const plc = await chain.readPlc().catch((e) => (e as Error).message);
    // The counter moves on: the views are compared a moment after the read, to have reached it.
    await sleep(1500);
    if (typeof plc === "string") {
      differences = [`cannot read the PLC: ${plc}`];
    } else {
      const truth = new Map<string, { value: unknown; status: number; type: string | undefined }>();
      const points = chain.plcPoints();
      points.forEach((p, i) => {
        const r = plc[i]!;
        truth.set(p.id, { value: r.typed?.value ?? null, status: r.status, type: r.typed?.type });
      });
      for (const p of chain.line2Points()) {
        truth.set(p.id, { value: p.value, status: p.status, type: p.type });
      }
      const counterId = points.at(-2)!.id;
      differences = [];
      const views: [string, Iterable<StoredPoint>][] = [
        ["dmz", chain.obs!.hop.store.values()],
        ["it", chain.ops!.hop.store.values()],
      ];
      for (const [name, values] of views) {
        const held = new Map<string, StoredPoint>();
        for (const p of values) {
          if (p.id.startsWith("plant1/plc/") || p.id.startsWith("line2/gen/")) held.set(p.id, p);
        }
        for (const [id, want] of truth) {
          const p = held.get(id);
          const valueOk = (v: unknown) =>
            id === counterId
              ? typeof v === "number" && v >= (want.value as number)
              : sameValue(want.value as never, v as never);
          if (!p) differences.push(`${name}: ${id} missing`);
          else if (p.status !== want.status || p.type !== want.type || !valueOk(p.value)) {
            differences.push(
              `${name}: ${id} = ${String(p.value)} ${statusName(p.status)} ${p.type}, source ${
                String(want.value)
              } ${statusName(want.status)} ${want.type}`,
            );
          }
        }
        for (const id of held.keys()) {
          if (!truth.has(id)) differences.push(`${name}: ${id} is held but gone at the source`);
        }
      }
      // The cloud: every source point as a metric of its device, Good and equal.
      cloudExtras = 0;
      const cloud = chain.cloud!;
      for (const [id, want] of truth) {
        const [origin, source, ...rest] = id.split("/");
        const d = cloud.devices.get(`${origin}:${source}`);
        const m = d?.metrics.get(rest.join("/"));
        const valueOk = id === counterId
          ? typeof m?.value === "number" && m.value >= (want.value as number)
          : m !== undefined && sameValue(want.value as never, m.value);
        if (!d?.alive || !m || m.quality !== 192 || !valueOk) {
          differences.push(
            `cloud: ${id} = ${String(m?.value)} (quality ${m?.quality}, device ${
              d?.alive ? "alive" : "dead"
            }), source ${String(want.value)}`,
          );
        }
      }
      for (const [device, d] of cloud.devices) {
        const [origin, source] = device.split(":");
        if (device !== "plant1:plc" && device !== "line2:gen") continue;
        for (const name of d.metrics.keys()) {
          if (!truth.has(`${origin}/${source}/${name}`)) cloudExtras++;
        }
      }
    }
    if (differences.length === 0) break;
  } while (Date.now() < deadline);
  return { differences, cloudExtras };
}

/** A hop's slopes and start/end medians over its longest-lived process. */
function figures(
  hop: string,
  samples: Sample[],
  checkpoints: Sample[],
  warmupMs: number,
): HopFigures {
  // A hop restarted by the faults (the dmz) lives shorter than the run's warm-up: its processes
  // then get 20 s of their own.
  let all: Series[] = seriesOf(samples, warmupMs);
  if (all.every((x) => x.samples.length < 60)) all = seriesOf(samples, Math.min(warmupMs, 20_000));
  const longest = all.reduce<Series | undefined>(
    (a, b) => (a && a.samples.length >= b.samples.length ? a : b),
    undefined,
  ) ?? { pid: 0, samples: [] };
  const s = longest.samples;
  const from = s[0]?.t ?? 0, to = s.at(-1)?.t ?? 0;
  const rates: Record<string, number> = {};
  const first: Record<string, number> = {};
  const last: Record<string, number> = {};
  // Medians over the first and last minute (a quarter of a shorter series).
  const window = Math.min(60_000, (to - from) / 4);
  for (const m of measures) {
    rates[m] = perHour(longest, m);
    first[m] = medianOf(s, m, from, from + window);
    last[m] = medianOf(s, m, to - window, to + 1);
  }
  const loop = samples.filter((x) => x.loopMaxMs !== undefined);
  // Checkpoints of the process that had most of them, after the warm-up.
  const cpSeries = seriesOf(checkpoints, 0).map((x) => ({
    ...x,
    samples: x.samples.filter((c) => c.t >= warmupMs),
  }));
  const cp = cpSeries.reduce<Series | undefined>(
    (a, b) => (a && a.samples.length >= b.samples.length ? a : b),
    undefined,
  )?.samples ?? [];
  const steady: Record<string, { first: number; last: number; perHour: number }> = {};
  for (const m of measures) {
    const v = cp.filter((c) => c[m] !== undefined);
    steady[m] = {
      first: v[0]?.[m] ?? NaN,
      last: v.at(-1)?.[m] ?? NaN,
      perHour: perHour({ pid: 0, samples: v }, m),
    };
  }
  return {
    steady,
    checkpoints: cp.length,
    hop,
    processes: all.length,
    seriesS: (to - from) / 1000,
    perHour: rates,
    first,
    last,
    loopMaxMs: Math.max(0, ...loop.map((x) => x.loopMaxMs!)),
    loopMeanMs: loop.length ? loop.reduce((a, x) => a + x.loopMeanMs!, 0) / loop.length : NaN,
  };
}

function loadAverage(): number {
  try {
    return Math.round(Deno.loadavg()[0]! * 100) / 100;
  } catch {
    return NaN;
  }
}

/** The report as text for the console and the docs. */
export function formatReport(r: SoakReport): string {
  const f = (n: number, d = 1) => Number.isFinite(n) ? n.toFixed(d) : "-";
  const lines: string[] = [];
  lines.push(
    `Soak ${r.minutes} min, ${r.startedAt} → ${r.endedAt}; load ${r.loadRate} updates/s on line2 (${r.loadUpdates} in all), ${r.points} source points, ${r.cloudMessages} Sparkplug messages`,
  );
  lines.push(
    `Machine load (1-min average, ${r.machineLoad.cores} cores, shared): min ${
      f(r.machineLoad.min, 2)
    }, median ${f(r.machineLoad.median, 2)}, max ${f(r.machineLoad.max, 2)}`,
  );
  lines.push("");
  lines.push(
    "| hop | processes | series | RSS MB/h | heap MB/h | fds/h | sockets/h | timers/h | RSS MB first→last | heap MB | fds | sockets | timers | loop delay mean / max ms |",
  );
  lines.push(
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const h of r.hops) {
    const fl = (m: string, d = 1) => `${f(h.first[m]!, d)} → ${f(h.last[m]!, d)}`;
    lines.push(
      `| ${h.hop} | ${h.processes} | ${f(h.seriesS / 60)} min | ${f(h.perHour.rssMb!)} | ${
        f(h.perHour.heapMb!)
      } | ${f(h.perHour.fds!)} | ${f(h.perHour.sockets!)} | ${f(h.perHour.timers!)} | ${
        fl("rssMb")
      } | ${fl("heapMb")} | ${fl("fds", 0)} | ${fl("sockets", 0)} | ${fl("timers", 0)} | ${
        f(h.loopMeanMs)
      } / ${f(h.loopMaxMs, 0)} |`,
    );
  }
  lines.push("");
  lines.push(
    "At checkpoints (every link up, before each fault), first → last of the process with most checkpoints, and growth per hour:",
  );
  lines.push("");
  lines.push("| hop | checkpoints | RSS MB | heap MB | fds | sockets | timers |");
  lines.push("| --- | --- | --- | --- | --- | --- | --- |");
  for (const h of r.hops) {
    const c = (m: string, d = 1) => {
      const x = h.steady[m]!;
      return `${f(x.first, d)} → ${f(x.last, d)} (${f(x.perHour, 1)}/h)`;
    };
    lines.push(
      `| ${h.hop} | ${h.checkpoints} | ${c("rssMb")} | ${c("heapMb")} | ${c("fds", 0)} | ${
        c("sockets", 0)
      } | ${c("timers", 0)} |`,
    );
  }
  lines.push("");
  lines.push(
    "| fault | times | shown at the last hop after, ms (min / median / max) | whole again after restore, ms (min / median / max) | failed |",
  );
  lines.push("| --- | --- | --- | --- | --- |");
  const names = [...new Set(r.faults.map((x) => x.name))];
  const stats = (v: number[]) => {
    if (v.length === 0) return "-";
    const s = [...v].sort((a, b) => a - b);
    return `${f(s[0]!, 0)} / ${f(s[Math.floor(s.length / 2)]!, 0)} / ${f(s.at(-1)!, 0)}`;
  };
  for (const name of names) {
    const all = r.faults.filter((x) => x.name === name);
    const ok = all.filter((x) => !x.error);
    lines.push(
      `| ${name} | ${all.length} | ${
        stats(ok.flatMap((x) => x.detectMs !== undefined ? [x.detectMs] : []))
      } | ${stats(ok.map((x) => x.recoverMs!))} | ${all.length - ok.length} |`,
    );
  }
  for (const x of r.faults.filter((x) => x.error)) {
    lines.push(`- ${x.name} (cycle ${x.cycle}): ${x.error}`);
  }
  lines.push("");
  lines.push(
    r.differences.length === 0
      ? `Final check: the dmz's set, it's set and the cloud equal the source, point by point and status by status (${r.points} points).`
      : `Final check FAILED, ${r.differences.length} differences:\n  ${
        r.differences.slice(0, 20).join("\n  ")
      }`,
  );
  if (r.cloudExtras > 0) {
    lines.push(
      `The cloud still shows ${r.cloudExtras} metrics of removed points (Sparkplug metrics stay until the next birth).`,
    );
  }
  lines.push(
    r.leakWarnings.length === 0
      ? "No listener-leak warning in any hop's output."
      : `Listener-leak warnings:\n  ${r.leakWarnings.slice(0, 5).join("\n  ")}`,
  );
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      minutes: { type: "string", default: "10" },
      json: { type: "string" },
      rate: { type: "string", default: "500" },
    },
  });
  const minutes = Number(values.minutes);
  if (!(minutes > 0)) {
    console.error(`--minutes must be a positive number, not "${values.minutes}"`);
    Deno.exit(2);
  }
  // Ctrl-C or SIGTERM ends the faults early; every part is still stopped and the report made.
  const stop = new AbortController();
  for (const s of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(s, () => stop.abort());
  }
  const report = await runSoak({ minutes, loadRate: Number(values.rate), signal: stop.signal });
  console.log(formatReport(report));
  if (values.json) {
    await Deno.writeTextFile(values.json, JSON.stringify(report, null, 2));
    console.log(`Report written to ${resolve(values.json)}`);
  }
  const failed = report.differences.length > 0 || report.leakWarnings.length > 0 ||
    report.faults.some((x) => x.error);
  Deno.exit(failed ? 1 : 0);
}
