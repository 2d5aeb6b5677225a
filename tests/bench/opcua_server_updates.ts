/**
 * An OPC UA server hop serving a subscriber: the hop measured (`dmz`, with
 * `--opcua-server`) is pushed `points` points over mutual TLS by a source in
 * this process (`gen`), and a second hop process (`rd`) reads its OPC UA
 * server as an in-house client would, with every point a monitored item
 * sampled every `sampling` ms (0: on change) and published every 100 ms. The
 * source then changes the points at each rate in turn (0: none, to measure
 * what serving the subscription costs by itself). Per step: the changes/s the
 * source made and `rd` received (median and range of its 1 s status lines
 * after a warm-up), the CPU of both hop processes (% of one core), the
 * server hop's peak RSS and anonymous memory, and once per sampling the time
 * `rd` took to connect and subscribe. Both hops run under their derived
 * permissions; their OPC UA certificates come from the chain's CA
 * (`hopgate certs opcua`), which the server hop trusts. Prints numbers, never
 * fails for being slow:
 *
 *     deno run -A tests/bench/opcua_server_updates.ts [--points 50000] [--sampling 0,100]
 *       [--rates 0,50000,200000] [--seconds 8] [--json]
 */
import { join } from "node:path";
import { sleep } from "../../core/mod.ts";
import { issueOpcuaCertificates } from "../../adapters/opcua/mod.ts";
import { chainCerts, startDmz, startHop, stopAll } from "../kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "../kit/helpers.ts";
import { cpuWindow, loadAverage, sampleProcess } from "../kit/machine.ts";
import { median } from "./_stats.ts";
import { scriptFlags, wholeNumber } from "./_args.ts";
import { applyRound, pointId, startSource } from "./_push_source.ts";
import type { HandSource } from "../kit/hand_source.ts";

/** One rate of one sampling interval. */
export interface ServerUpdatesStep {
  /** The subscriber's sampling interval, ms (0: on change). */
  samplingMs: number;
  /** Changes/s asked of the source. */
  ratePerS: number;
  /** Changes/s the source made over the measured seconds. */
  madePerS: number;
  /** The subscriber's 1 s status lines while measuring: changes applied per second. */
  received: { median: number; min: number; max: number; samples: number };
  /** % of one core while measuring. */
  serverCpuPct: number;
  subscriberCpuPct: number;
  /** Busy CPU of the machine not accounted to the two hops or this process, % of one core. */
  othersCpuPct: number;
  serverPeakRssMb: number;
  serverPeakAnonMb: number;
  /** The subscriber lost its connection while measuring (its first such line). */
  lost: string | null;
}

/** What one sampling interval measured: the subscription, then each rate. */
export interface ServerUpdatesRun {
  samplingMs: number;
  points: number;
  /** Variables the subscriber found and monitored (the points and the server hop's own status points). */
  monitored: number;
  /** From starting the subscriber to its `Connected` line, and that line's subscribe part. */
  connectMs: number;
  subscribeMs: number;
  steps: ServerUpdatesStep[];
  load: { before: string; after: string };
}

const mb = (kb: number) => Math.round(kb / 1024);

/**
 * Changes points round-robin at `rate` changes/s for `ms`, in steps of about
 * 10 ms that catch up when the event loop was late, so that the count made
 * follows the clock; returns the changes made. Values count up per point.
 */
async function changeAt(
  source: HandSource,
  points: number,
  rate: number,
  ms: number,
  state: { next: number; round: number },
): Promise<number> {
  const t0 = performance.now();
  let made = 0;
  for (;;) {
    const elapsed = performance.now() - t0;
    if (elapsed >= ms) return made;
    const due = Math.min(Math.floor(elapsed * rate / 1000), made + rate); // at most 1 s behind
    const time = Date.now();
    for (; made < due; made++) {
      const i = state.next;
      source.apply({ id: pointId(i), value: state.round * points + i, type: "Double", time });
      if (++state.next === points) [state.next, state.round] = [0, state.round + 1];
    }
    await sleep(10);
  }
}

/** Runs one sampling interval: server hop, source, subscriber, then each rate. */
async function runSampling(
  samplingMs: number,
  o: { points: number; rates: number[]; seconds: number; warmupSeconds: number },
  onStep: (s: ServerUpdatesStep) => void,
): Promise<ServerUpdatesRun> {
  await using dir = await tempDir("hopgate-bench-opcua-server-");
  await chainCerts(dir.path, ["gen", "dmz"]);
  const caDir = join(dir.path, "ca");
  // The server hop trusts the chain's CA; the subscriber's client certificate comes from it.
  for (const hop of ["dmz", "rd"]) {
    await issueOpcuaCertificates(hop, {
      caDir,
      dataDir: join(dir.path, hop),
      addresses: ["127.0.0.1"],
    });
  }
  const [port, opcuaPort] = [freePort(), freePort()];
  let server: Proc | null = null;
  let reader: Proc | null = null;
  try {
    server = await startDmz(dir.path, port, "gen:push", [
      "--status-interval",
      "1s",
      "--opcua-server",
      `127.0.0.1:${opcuaPort}`,
      "--opcua-server-anonymous",
    ]);
    const srv = server;
    await using gen = await startSource(dir.path, port);
    await applyRound(gen.source, o.points, 0);
    // Every point is a variable once the store holds them all and none waits to be served.
    await waitFor(
      `the server hop serving ${o.points} points`,
      () =>
        srv.lines.some((l) =>
          Number(/Status: (\d+) points/.exec(l)?.[1]) >= o.points && !/waiting to be served/.test(l)
        ) || undefined,
      120_000,
    );
    const before = loadAverage();
    const t0 = performance.now();
    reader = await startHop(dir.path, "rd", [
      "--opcua",
      `srv=opc.tcp://127.0.0.1:${opcuaPort}/hopgate`,
      "--opcua-trust-unknown",
      "--opcua-sampling",
      String(samplingMs),
      "--opcua-publishing",
      "100",
      "--status-interval",
      "1s",
    ]);
    const rd = reader;
    const connected =
      /Connected to opcua:srv .*: (\d+) variables, (\d+) monitored .* subscribed in (\d+) ms/;
    let serverExited = false;
    void srv.done.then(() => serverExited = true);
    const line = await waitFor("the subscriber's Connected line", () => {
      if (serverExited) throw new Error("the server hop exited");
      return rd.lines.find((l) => connected.test(l));
    }, 180_000);
    const connectMs = Math.round(performance.now() - t0);
    const [, , monitored, subscribeMs] = connected.exec(line)!.map(Number);
    const state = { next: 0, round: 1 };
    const steps: ServerUpdatesStep[] = [];
    for (const rate of o.rates) {
      await changeAt(gen.source, o.points, rate, o.warmupSeconds * 1000, state);
      const from = rd.lines.length;
      const pids = { srv: srv.child.pid, rd: rd.child.pid, bench: Deno.pid };
      const window = cpuWindow(pids);
      const start = sampleProcess(pids.srv);
      let [rss, anon] = [start.rssKb, start.anonKb];
      const peak = setInterval(() => {
        const s = sampleProcess(pids.srv);
        [rss, anon] = [Math.max(rss, s.rssKb), Math.max(anon, s.anonKb)];
      }, 250);
      const tm = performance.now();
      let made: number;
      try {
        made = await changeAt(gen.source, o.points, rate, o.seconds * 1000, state);
      } finally {
        clearInterval(peak);
      }
      const seconds = (performance.now() - tm) / 1000;
      const cpu = window.end();
      const rates = rd.lines.slice(from).map((l) => /Status: \d+ points, (\d+) updates\/s/.exec(l))
        .filter((m) => m !== null).map((m) => Number(m[1]));
      if (rates.length === 0) throw new Error(`the subscriber wrote no status line at ${rate}/s`);
      const step: ServerUpdatesStep = {
        samplingMs,
        ratePerS: rate,
        madePerS: Math.round(made / seconds),
        received: {
          median: median(rates),
          min: Math.min(...rates),
          max: Math.max(...rates),
          samples: rates.length,
        },
        serverCpuPct: Math.round(cpu.pct.srv),
        subscriberCpuPct: Math.round(cpu.pct.rd),
        othersCpuPct: Math.round(cpu.othersPct),
        serverPeakRssMb: mb(rss),
        serverPeakAnonMb: mb(anon),
        lost: rd.lines.slice(from).find((l) => /lost or unreachable/.test(l)) ?? null,
      };
      steps.push(step);
      onStep(step);
    }
    return {
      samplingMs,
      points: o.points,
      monitored: monitored!,
      connectMs,
      subscribeMs: subscribeMs!,
      steps,
      load: { before, after: loadAverage() },
    };
  } catch (e) {
    const tail = (p: Proc | null, name: string) =>
      p ? `\n--- ${name} ---\n${p.output().slice(-3000)}` : "";
    throw new Error(
      `sampling ${samplingMs} ms: ${(e as Error).message}${tail(server, "server hop")}${
        tail(reader, "subscriber")
      }`,
    );
  } finally {
    await stopAll(reader, server);
  }
}

/** Runs every sampling interval in turn. */
export async function measureOpcuaServerUpdates(
  options: {
    points?: number;
    sampling?: number[];
    rates?: number[];
    seconds?: number;
    warmupSeconds?: number;
    onStep?: (s: ServerUpdatesStep) => void;
  } = {},
): Promise<ServerUpdatesRun[]> {
  const o = {
    points: options.points ?? 50_000,
    rates: options.rates ?? [0, 50_000, 200_000],
    seconds: options.seconds ?? 8,
    warmupSeconds: options.warmupSeconds ?? 2,
  };
  const out: ServerUpdatesRun[] = [];
  for (const s of options.sampling ?? [0, 100]) {
    out.push(await runSampling(s, o, options.onStep ?? (() => {})));
  }
  return out;
}

/** One line for a step. */
export function formatStep(s: ServerUpdatesStep): string {
  const k = (n: number) => n.toLocaleString("en");
  return `sampling ${s.samplingMs} ms, ${k(s.ratePerS)} changes/s asked (${
    k(s.madePerS)
  } made): subscriber received median ${k(s.received.median)}/s (${k(s.received.min)}–${
    k(s.received.max)
  }, ${s.received.samples} s); server hop ${s.serverCpuPct}% of a core, peak RSS ${s.serverPeakRssMb} MB (${s.serverPeakAnonMb} MB anonymous); subscriber ${s.subscriberCpuPct}%; others ${s.othersCpuPct}%${
    s.lost ? `; LOST: ${s.lost}` : ""
  }`;
}

if (import.meta.main) {
  const flags = scriptFlags({
    points: { type: "string", default: "50000" },
    sampling: { type: "string", default: "0,100" },
    rates: { type: "string", default: "0,50000,200000" },
    seconds: { type: "string", default: "8" },
    json: { type: "boolean", default: false },
  });
  const numbers = (flag: string, text: string) =>
    text.split(",").map((x) => wholeNumber(flag, x.trim()));
  const runs = await measureOpcuaServerUpdates({
    points: wholeNumber("--points", flags.points, 1),
    sampling: numbers("--sampling", flags.sampling),
    rates: numbers("--rates", flags.rates),
    seconds: wholeNumber("--seconds", flags.seconds, 1),
    onStep: (s) => console.log(formatStep(s)),
  });
  for (const r of runs) {
    console.log(
      `sampling ${r.samplingMs} ms: ${
        r.monitored.toLocaleString("en")
      } items monitored, connected in ${r.connectMs} ms (subscribed in ${r.subscribeMs} ms); load ${r.load.before} → ${r.load.after}`,
    );
  }
  if (flags.json) console.log(JSON.stringify(runs));
}
