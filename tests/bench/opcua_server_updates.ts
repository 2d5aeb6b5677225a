/**
 * An OPC UA server hop serving subscribers: the hop measured (`dmz`, with
 * `--opcua-server`) is pushed `points` points over mutual TLS by a source in
 * this process (`gen`), and `subscribers` other hop processes (`rd`, `rd2`,
 * …) read its OPC UA server as in-house clients would, each with every point
 * a monitored item sampled every `sampling` ms (0: on change) and published
 * every 100 ms. The
 * source then changes the points at each rate in turn (0: none, to measure
 * what serving the subscription costs by itself). Per step: the changes/s the
 * source made and each subscriber received (median and range of its 1 s
 * status lines after a warm-up), the CPU of the hop processes (% of one core),
 * the server hop's peak RSS and anonymous memory, and once per sampling the
 * time `rd` took to connect and subscribe. The server offers one message
 * security setting (`security`, as `--opcua-security` takes it), which the
 * subscribers use. The hops run under their derived
 * permissions; their OPC UA certificates come from the chain's CA
 * (`hopgate certs opcua`), which the server hop trusts. Prints numbers, never
 * fails for being slow:
 *
 *     deno run -A tests/bench/opcua_server_updates.ts [--points 50000] [--sampling 0,100]
 *       [--rates 0,50000,200000] [--seconds 8] [--subscribers 1]
 *       [--security SignAndEncrypt:Basic256Sha256] [--json]
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
  /** The first subscriber's 1 s status lines while measuring: changes applied per second. */
  received: { median: number; min: number; max: number; samples: number };
  /** Each subscriber's median changes/s received (the first is `received.median`). */
  receivedPerSubscriber: number[];
  /** % of one core while measuring. */
  serverCpuPct: number;
  /** All subscribers together, % of one core. */
  subscriberCpuPct: number;
  /** Busy CPU of the machine not accounted to the two hops or this process, % of one core. */
  othersCpuPct: number;
  serverPeakRssMb: number;
  serverPeakAnonMb: number;
  /** A subscriber lost its connection while measuring (the first such line). */
  lost: string | null;
}

/** What one sampling interval measured: the subscription, then each rate. */
export interface ServerUpdatesRun {
  samplingMs: number;
  points: number;
  subscribers: number;
  /** Message security between the subscribers and the server. */
  security: string;
  /** Variables the subscriber found and monitored (the points and the server hop's own status points). */
  monitored: number;
  /** From starting the first subscriber to its `Connected` line, and that line's subscribe part. */
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
  o: {
    points: number;
    rates: number[];
    seconds: number;
    warmupSeconds: number;
    subscribers: number;
    security: string;
  },
  onStep: (s: ServerUpdatesStep) => void,
): Promise<ServerUpdatesRun> {
  await using dir = await tempDir("hopgate-bench-opcua-server-");
  await chainCerts(dir.path, ["gen", "dmz"]);
  const caDir = join(dir.path, "ca");
  // The server hop trusts the chain's CA; the subscribers' client certificates come from it.
  const names = Array.from({ length: o.subscribers }, (_, i) => i === 0 ? "rd" : `rd${i + 1}`);
  for (const hop of ["dmz", ...names]) {
    await issueOpcuaCertificates(hop, {
      caDir,
      dataDir: join(dir.path, hop),
      addresses: ["127.0.0.1"],
    });
  }
  const [port, opcuaPort] = [freePort(), freePort()];
  let server: Proc | null = null;
  const readers: Proc[] = [];
  try {
    server = await startDmz(dir.path, port, "gen:push", [
      "--status-interval",
      "1s",
      "--opcua-server",
      `127.0.0.1:${opcuaPort}`,
      "--opcua-server-anonymous",
      "--opcua-server-security",
      o.security,
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
    const connected =
      /Connected to opcua:srv .*: (\d+) variables, (\d+) monitored .* subscribed in (\d+) ms/;
    let serverExited = false;
    void srv.done.then(() => serverExited = true);
    let first: { connectMs: number; monitored: number; subscribeMs: number } | null = null;
    for (const name of names) {
      const t0 = performance.now();
      const rd = await startHop(dir.path, name, [
        "--opcua",
        `srv=opc.tcp://127.0.0.1:${opcuaPort}/hopgate`,
        "--opcua-trust-unknown",
        "--opcua-security",
        o.security,
        "--opcua-sampling",
        String(samplingMs),
        "--opcua-publishing",
        "100",
        "--status-interval",
        "1s",
      ]);
      readers.push(rd);
      const line = await waitFor(`subscriber ${name}'s Connected line`, () => {
        if (serverExited) throw new Error("the server hop exited");
        return rd.lines.find((l) => connected.test(l));
      }, 180_000);
      const [, , monitored, subscribeMs] = connected.exec(line)!.map(Number);
      first ??= {
        connectMs: Math.round(performance.now() - t0),
        monitored: monitored!,
        subscribeMs: subscribeMs!,
      };
    }
    const { connectMs, monitored, subscribeMs } = first!;
    const state = { next: 0, round: 1 };
    const steps: ServerUpdatesStep[] = [];
    for (const rate of o.rates) {
      await changeAt(gen.source, o.points, rate, o.warmupSeconds * 1000, state);
      const from = readers.map((r) => r.lines.length);
      const pids: Record<string, number> = { srv: srv.child.pid, bench: Deno.pid };
      for (const [i, r] of readers.entries()) pids[names[i]!] = r.child.pid;
      const window = cpuWindow(pids);
      const start = sampleProcess(srv.child.pid);
      let [rss, anon] = [start.rssKb, start.anonKb];
      const peak = setInterval(() => {
        const s = sampleProcess(srv.child.pid);
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
      const received = readers.map((r, i) =>
        r.lines.slice(from[i]).map((l) => /Status: \d+ points, (\d+) updates\/s/.exec(l))
          .filter((m) => m !== null).map((m) => Number(m[1]))
      );
      for (const [i, r] of received.entries()) {
        if (r.length === 0) throw new Error(`${names[i]} wrote no status line at ${rate}/s`);
      }
      const rates = received[0]!;
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
        receivedPerSubscriber: received.map(median),
        serverCpuPct: Math.round(cpu.pct.srv!),
        subscriberCpuPct: Math.round(names.reduce((sum, n) => sum + cpu.pct[n]!, 0)),
        othersCpuPct: Math.round(cpu.othersPct),
        serverPeakRssMb: mb(rss),
        serverPeakAnonMb: mb(anon),
        lost: readers.map((r, i) =>
          r.lines.slice(from[i]).find((l) => /lost or unreachable/.test(l))
        )
          .find((l) => l !== undefined) ?? null,
      };
      steps.push(step);
      onStep(step);
    }
    return {
      samplingMs,
      points: o.points,
      subscribers: o.subscribers,
      security: o.security,
      monitored,
      connectMs,
      subscribeMs,
      steps,
      load: { before, after: loadAverage() },
    };
  } catch (e) {
    const tail = (p: Proc | null, name: string) =>
      p ? `\n--- ${name} ---\n${p.output().slice(-3000)}` : "";
    throw new Error(
      `sampling ${samplingMs} ms: ${(e as Error).message}${tail(server, "server hop")}${
        readers.map((r, i) => tail(r, names[i]!)).join("")
      }`,
    );
  } finally {
    await stopAll(...readers, server);
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
    subscribers?: number;
    security?: string;
    onStep?: (s: ServerUpdatesStep) => void;
  } = {},
): Promise<ServerUpdatesRun[]> {
  const o = {
    points: options.points ?? 50_000,
    rates: options.rates ?? [0, 50_000, 200_000],
    seconds: options.seconds ?? 8,
    warmupSeconds: options.warmupSeconds ?? 2,
    subscribers: options.subscribers ?? 1,
    security: options.security ?? "SignAndEncrypt:Basic256Sha256",
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
  }, ${s.received.samples} s)${
    s.receivedPerSubscriber.length > 1
      ? `, each subscriber's median ${s.receivedPerSubscriber.map(k).join(", ")}/s`
      : ""
  }; server hop ${s.serverCpuPct}% of a core, peak RSS ${s.serverPeakRssMb} MB (${s.serverPeakAnonMb} MB anonymous); subscriber${
    s.receivedPerSubscriber.length > 1 ? "s" : ""
  } ${s.subscriberCpuPct}%; others ${s.othersCpuPct}%${s.lost ? `; LOST: ${s.lost}` : ""}`;
}

if (import.meta.main) {
  const flags = scriptFlags({
    points: { type: "string", default: "50000" },
    sampling: { type: "string", default: "0,100" },
    rates: { type: "string", default: "0,50000,200000" },
    seconds: { type: "string", default: "8" },
    subscribers: { type: "string", default: "1" },
    security: { type: "string", default: "SignAndEncrypt:Basic256Sha256" },
    json: { type: "boolean", default: false },
  });
  const numbers = (flag: string, text: string) =>
    text.split(",").map((x) => wholeNumber(flag, x.trim()));
  const runs = await measureOpcuaServerUpdates({
    points: wholeNumber("--points", flags.points, 1),
    sampling: numbers("--sampling", flags.sampling),
    rates: numbers("--rates", flags.rates),
    seconds: wholeNumber("--seconds", flags.seconds, 1),
    subscribers: wholeNumber("--subscribers", flags.subscribers, 1),
    security: flags.security,
    onStep: (s) => console.log(formatStep(s)),
  });
  for (const r of runs) {
    console.log(
      `sampling ${r.samplingMs} ms, ${r.subscribers} subscriber(s), ${r.security}: ${
        r.monitored.toLocaleString("en")
      } items monitored each, connected in ${r.connectMs} ms (subscribed in ${r.subscribeMs} ms); load ${r.load.before} → ${r.load.after}`,
    );
  }
  if (flags.json) console.log(JSON.stringify(runs));
}
