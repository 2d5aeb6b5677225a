/**
 * One relay hop as a process, between a load generator and a receiver: the
 * generator dials it over mutual TLS and pushes recorded data frames (the
 * snapshot of `points` points, then rounds of changes to every point) as fast
 * as its socket drains; the receiver, a hop in this process, pulls from the
 * relay and counts the updates it gets. Also the relay's RSS empty and at
 * `points` points, and its CPU.
 *
 *     deno run -A tests/bench/relay_hop.ts [points] [rate,rate,…]   (rate 0: unpaced)
 */
import * as tls from "node:tls";
import { setImmediate } from "node:timers";
import { join } from "node:path";
import { sleep } from "../../core/mod.ts";
import { FrameReader, FrameType } from "../../tunnel/frames.ts";
import { decodeFrame, simpleFrame } from "../../tunnel/control_frames.ts";
import { chainCerts, startDmz, startHop, stopAll } from "../kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "../kit/helpers.ts";
import { measure } from "./broker_chain.ts";
import { sampleProcess } from "../kit/machine.ts";
import { mean } from "./_stats.ts";
import { recordPushLink } from "./_recorded_link.ts";

/** The flow-control window the generator keeps to, as a hop's links do by default. */
const window = 1024 * 1024;

/** A hop's `Status:` lines so far: points held and the update rate of the second before. */
export function statusLines(p: Proc): { points: number; rate: number }[] {
  const out: { points: number; rate: number }[] = [];
  for (const l of p.lines) {
    const m = /Status: (\d+) points, (\d+) updates\/s/.exec(l);
    if (m) out.push({ points: Number(m[1]), rate: Number(m[2]) });
  }
  return out;
}

/** One offered rate of a relay run. */
export interface RelayStep {
  /** Updates the generator wrote per second (what was offered; 0 = as fast as it drains). */
  offeredPerS: number;
  /** Mean of 1 s windows of updates the receiver applied per second. */
  forwardedPerS: number;
  windowsPerS: number[];
  /** The receiver lost its link to the relay during this step. */
  linkDropped: boolean;
}

/** What one relay run measured. */
export interface RelayResult {
  points: number;
  /** The highest mean forwarded rate over the steps that kept the link. */
  forwardedPerS: number;
  steps: RelayStep[];
  /** The relay's RSS before any link, MB. */
  emptyRssMb: number;
  /** The relay's peak RSS while forwarding with every point held, MB. */
  peakRssMb: number;
  /** The relay's RSS once the load stopped, with every point held, MB. */
  idleRssMb: number;
  /** Of those, anonymous memory (without the executable's file-backed pages), MB: empty, then after the load. */
  emptyAnonMb: number;
  idleAnonMb: number;
  /** The relay's peak anonymous memory while forwarding, MB (sampled every 200 ms). */
  peakAnonMb: number;
  /** Its anonymous memory once a second while forwarding, MB (for the slope under a flood). */
  anonSamplesMb: number[];
  cpuPct: { relay: number; receiver: number; load: number; others: number };
}

/** Runs the relay benchmark once. */
export async function measureRelayHop(
  options: { points?: number; rates?: number[]; secondsPerRate?: number } = {},
): Promise<RelayResult> {
  const points = options.points ?? 100_000;
  const rates = options.rates ?? [300_000, 600_000, 1_000_000, 1_500_000, 0];
  const secondsPerRate = options.secondsPerRate ?? 4;
  await using dir = await tempDir("hopgate-bench-relay-");
  await chainCerts(dir.path, ["gen", "dmz", "recv"]);
  const recorded = await recordPushLink("gen", "dmz", points, 4);
  const port = freePort();
  let relay: Proc | null = null, recv: Proc | null = null;
  let socket: tls.TLSSocket | null = null;
  let anonTimer: ReturnType<typeof setInterval> | undefined;
  try {
    relay = await startDmz(dir.path, port, "gen:push,recv:pull", ["--status-interval", "1s"]);
    const pid = relay.child.pid;
    await sleep(300);
    const empty = sampleProcess(pid);
    const emptyRssMb = empty.rssKb / 1024;
    recv = await startHop(dir.path, "recv", [
      "--pull",
      `dmz=127.0.0.1:${port}`,
      "--status-interval",
      "1s",
    ]);
    const r = recv;
    const read = (f: string) => Deno.readTextFileSync(join(dir.path, "gen", "certs", f));
    socket = tls.connect({
      host: "127.0.0.1",
      port,
      key: read("gen.key"),
      cert: read("gen.crt"),
      ca: read("ca.crt"),
      minVersion: "TLSv1.3",
      servername: "dmz",
      checkServerIdentity: () => undefined,
    });
    const s = socket;
    s.setNoDelay(true);
    // The relay's hello, pings and acknowledgements: the generator keeps to the link's window.
    const reader = new FrameReader(1 << 20);
    let sentData = 0, ackedData = 0;
    let onAck: (() => void) | null = null;
    s.on("data", (chunk: Uint8Array) => {
      for (const [type, body] of reader.push(chunk)) {
        const f = decodeFrame(type, body);
        if (f.type === FrameType.Ack) ackedData = f.bytes;
        if (f.type === FrameType.Ping) s.write(simpleFrame(FrameType.Pong, f.t));
      }
      onAck?.();
    });
    s.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      s.once("secureConnect", () => resolve());
      s.once("error", reject);
    });
    // Yields to the event loop after every frame, so the socket's events get their turn.
    const write = async (frame: Uint8Array) => {
      if (frame[4] === FrameType.Data) {
        while (sentData - ackedData >= window) await new Promise<void>((r) => onAck = r);
        sentData += frame.length;
      }
      s.write(frame);
      // Polls rather than waits for "drain", which sometimes never came here.
      while (s.writableLength > 64 * 1024) await sleep(1);
      await new Promise((r) => setImmediate(r));
    };
    await write(recorded.hello);
    for (const f of recorded.snapshot) await write(f);
    await waitFor(
      "the snapshot at the receiver",
      () => (statusLines(r).at(-1)?.points ?? 0) >= points,
      60_000,
    );
    // Updates per recorded frame, on average (frames hold up to a batch's worth).
    const perFrame = recorded.updates / recorded.rounds.length;
    let frame = 0;
    let offered = 0;
    let stop = false;
    let pace = 0;
    let paceFrom = 0, paceFrames = 0;
    const pump = (async () => {
      while (!stop) {
        const due = pace === 0
          ? Infinity
          : (performance.now() - paceFrom) / 1000 * pace / perFrame - paceFrames;
        if (due < 1) {
          await sleep(1);
          continue;
        }
        await write(recorded.rounds[frame++ % recorded.rounds.length]!);
        paceFrames++;
        offered += perFrame;
      }
    })();
    const steps: RelayStep[] = [];
    let peakAnonKb = 0;
    const anonSamplesMb: number[] = [];
    let ticks = 0;
    anonTimer = setInterval(() => {
      const kb = sampleProcess(pid).anonKb;
      peakAnonKb = Math.max(peakAnonKb, kb);
      if (++ticks % 5 === 0) anonSamplesMb.push(Math.round(kb / 1024 * 10) / 10);
    }, 200);
    const usage = await measure({ relay: pid, receiver: r.child.pid, load: Deno.pid }, async () => {
      for (const rate of rates) {
        [pace, paceFrom, paceFrames] = [rate, performance.now(), 0];
        const [t0, o0, seen] = [performance.now(), offered, statusLines(r).length];
        await waitFor(
          "the receiver's status lines",
          () => statusLines(r).length >= seen + secondsPerRate,
          (secondsPerRate + 10) * 1000,
        );
        // The first window straddles the change of rate: skip it.
        const windows = statusLines(r).slice(seen + 1, seen + secondsPerRate).map((l) => l.rate);
        steps.push({
          offeredPerS: Math.round((offered - o0) / ((performance.now() - t0) / 1000)),
          forwardedPerS: Math.round(mean(windows)),
          windowsPerS: windows,
          linkDropped: r.lines.some((l) => /Link with dmz lost/.test(l)),
        });
        if (steps.at(-1)!.linkDropped) break;
      }
    });
    clearInterval(anonTimer);
    stop = true;
    await pump;
    await sleep(500);
    const idle = sampleProcess(pid);
    const idleRssMb = idle.rssKb / 1024;
    const cpu = (name: string) => usage.find((u) => u.process === name)?.cpuPct ?? 0;
    const kept = steps.filter((x) => !x.linkDropped);
    return {
      points,
      forwardedPerS: Math.max(0, ...kept.map((x) => x.forwardedPerS)),
      steps,
      emptyRssMb: Math.round(emptyRssMb * 10) / 10,
      peakRssMb: usage.find((u) => u.process === "relay")!.rssMb,
      idleRssMb: Math.round(idleRssMb * 10) / 10,
      emptyAnonMb: Math.round(empty.anonKb / 1024 * 10) / 10,
      idleAnonMb: Math.round(idle.anonKb / 1024 * 10) / 10,
      peakAnonMb: Math.round(peakAnonKb / 1024 * 10) / 10,
      anonSamplesMb,
      cpuPct: {
        relay: cpu("relay"),
        receiver: cpu("receiver"),
        load: cpu("load"),
        others: cpu("others"),
      },
    };
  } finally {
    clearInterval(anonTimer);
    if (Deno.env.get("VERBOSE")) console.log(relay?.output());
    socket?.destroy();
    await stopAll(relay, recv);
  }
}

if (import.meta.main) {
  const r = await measureRelayHop({
    points: Number(Deno.args[0] ?? 100_000),
    ...(Deno.args[1] ? { rates: Deno.args[1].split(",").map(Number) } : {}),
  });
  console.log(JSON.stringify(r, null, 2));
}
