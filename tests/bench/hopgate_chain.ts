/**
 * A three-process chain over mutual TLS on loopback (plant1 → dmz ← it → a
 * mosquitto "cloud" broker over TLS with a client certificate), each hop under
 * its derived permissions: end-to-end updates/s at the last hop and at a
 * subscriber of the cloud broker (Sparkplug metrics), the RSS and CPU of every
 * hop, and the time a new downstream hop process takes to receive the whole
 * set while the chain is busy, and once it is idle. Prints numbers; run:
 *
 *     deno run -A tests/bench/hopgate_chain.ts [points] [rate]
 */
import { join } from "node:path";
import mqtt from "mqtt";
import { chainCerts, startDmz, startHop, startIt, stopAll } from "../kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "../kit/helpers.ts";
import { Mosquitto, setupBroker } from "../kit/mosquitto.ts";
import { measure, type Usage } from "./broker_chain.ts";
import { statusLines } from "./relay_hop.ts";
import { mean, median } from "./_stats.ts";
import { sampleMainThread, type ThreadSchedule } from "../kit/machine.ts";

/** Times of a snapshot to a new hop taken per condition; the figure is their median. */
const snapshotRuns = 3;

/** Milliseconds since the epoch of a hop's text log line (its own clock; offsets cancel out). */
function lineTime(line: string): number {
  const t = Date.parse(`${line.slice(0, 10)}T${line.slice(11, 23)}Z`);
  if (Number.isNaN(t)) throw new Error(`no timestamp in log line: ${line}`);
  return t;
}

/** One new hop's snapshot: its time, and how long its main thread ran and waited for a CPU meanwhile. */
export interface SnapshotRun {
  ms: number;
  /**
   * When its link was open (`it`'s hello read, which `it` sends just before it
   * encodes the set), in ms since the start: the rest is `it` encoding and
   * sending, and the new hop receiving. `null` without that line.
   */
  openMs: number | null;
  /** `null` where the kernel keeps no scheduler counts (see sampleMainThread). */
  main: ThreadSchedule | null;
}

/**
 * Starts hop `ops` as its own process, pulling from `it` on `port`, and
 * returns how long it took by its own log, from "starting" to "Snapshot
 * from it" (configuration, certificates, connect, TLS, hello, the whole set):
 * what a hop added to a running chain waits, without the process start-up.
 * Its main thread's time on a CPU and waiting for one is read as its start
 * line is seen and again at the snapshot's end (both a few ms late).
 */
async function snapshotToNewHop(dir: string, port: number, points: number): Promise<SnapshotRun> {
  const ops = await startHop(dir, "ops", ["--pull", `it=127.0.0.1:${port}`]);
  try {
    const from = sampleMainThread(ops.child.pid);
    const held = /Snapshot from it: (\d+) points/;
    const end = await ops.waitForLine(held, 30_000);
    const to = sampleMainThread(ops.child.pid);
    const got = Number(held.exec(end)![1]);
    if (got < points) throw new Error(`the new hop's snapshot held ${got} of ${points} points`);
    // startHop returned once this line was there.
    const start = ops.lines.find((l) => /Hop ops starting/.test(l))!;
    const open = ops.lines.find((l) => /Link with it open/.test(l));
    return {
      ms: lineTime(end) - lineTime(start),
      openMs: open === undefined ? null : lineTime(open) - lineTime(start),
      main: from !== null && to !== null
        ? { runMs: Math.round(to.runMs - from.runMs), waitMs: Math.round(to.waitMs - from.waitMs) }
        : null,
    };
  } finally {
    await ops.stop();
  }
}

/**
 * Metrics in a Sparkplug payload, read from its top-level fields without
 * decoding them (field 2, length-delimited, is one metric), so that counting
 * costs the subscriber little next to the hops it measures.
 */
export function countMetrics(payload: Uint8Array): number {
  let i = 0, n = 0;
  const varint = () => {
    let v = 0, shift = 1;
    for (;;) {
      const b = payload[i++];
      if (b === undefined) throw new Error("truncated Sparkplug payload");
      v += (b & 0x7f) * shift;
      if (b < 0x80) return v;
      shift *= 128;
    }
  };
  while (i < payload.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      i += len;
      if (tag >>> 3 === 2) n++;
    } else throw new Error(`Sparkplug payload with wire type ${wire}`);
  }
  return n;
}

/** Counts Sparkplug DDATA metrics arriving at a broker, per wall-clock second. */
class CloudCounter {
  metrics = 0;
  #windows: number[] = [];
  #timer: ReturnType<typeof setInterval>;
  #last = 0;
  constructor(readonly client: mqtt.MqttClient) {
    client.on("message", (topic, payload) => {
      if (topic.includes("/DDATA/")) this.metrics += countMetrics(payload);
    });
    this.#timer = setInterval(() => {
      this.#windows.push(this.metrics - this.#last);
      this.#last = this.metrics;
    }, 1000);
  }
  /** Metrics per 1 s window so far. */
  get windows(): number[] {
    return this.#windows;
  }
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.client.endAsync(true);
  }
}

/** What one chain run measured. */
export interface ChainResult {
  points: number;
  /** The rate the simulator was asked for. */
  simRate: number;
  /** Mean of 1 s windows of updates/s applied at the last hop (it): windows are bursty, a median flatters. */
  atLastHopPerS: number;
  windowsPerS: number[];
  /** Mean of what the plant's store applied per second over the same time (what the simulator managed). */
  plantPerS: number;
  /** Mean of 1 s windows of Sparkplug metrics/s arriving at the cloud broker's subscriber (QoS 1). */
  atCloudPerS: number;
  cloudWindowsPerS: number[];
  /** Whether the it hop spilled updates to its store-and-forward buffer while flooding. */
  cloudBuffered: boolean;
  /** Peak RSS and CPU of each hop (and of this process, and of everything else) while flooding. */
  usage: Usage[];
  /**
   * Median ms a new hop process pulling from it takes, by its log, from
   * starting to holding the whole set (connect, TLS, snapshot), with the chain busy.
   */
  snapshotMs: number;
  /** The {@link snapshotRuns} new hops of which {@link snapshotMs} is the median. */
  busySnapshots: SnapshotRun[];
  /** The same once the plant has stopped and the chain is idle. */
  idleSnapshotMs: number;
  idleSnapshots: SnapshotRun[];
  /** Whether the simulator said it could not keep up. */
  simBehind: boolean;
}

/** Runs the chain at `rate` for `seconds` windows, then times a snapshot to a new hop. */
export async function measureChain(
  options: { points?: number; rate?: number; seconds?: number } = {},
): Promise<ChainResult> {
  const points = options.points ?? 100_000;
  const rate = options.rate ?? 600_000;
  const seconds = options.seconds ?? 5;
  await using dir = await tempDir("hopgate-bench-chain-");
  let dmz: Proc | null = null, it: Proc | null = null, plant: Proc | null = null;
  let cloud: CloudCounter | null = null;
  const brokerDir = join(dir.path, "cloud");
  await Deno.mkdir(brokerDir);
  const broker = new Mosquitto(await setupBroker(brokerDir));
  try {
    await broker.start();
    const b = broker.setup;
    cloud = new CloudCounter(
      await mqtt.connectAsync(`mqtt://127.0.0.1:${b.plainPort}`, { reconnectPeriod: 0 }),
    );
    await cloud.client.subscribeAsync("spBv1.0/#", { qos: 0 });
    await chainCerts(dir.path, ["plant1", "dmz", "it", "ops"]);
    const p1 = freePort(), p2 = freePort();
    const status = ["--status-interval", "1s"];
    dmz = await startDmz(dir.path, p1, "plant1:push,it:pull", [...status]);
    it = await startIt(dir.path, p1, p2, "ops:pull", [
      ...status,
      "--mqtt",
      `mqtts://localhost:${b.tlsPort}`,
      "--mqtt-ca",
      b.ca,
      "--mqtt-cert",
      b.clientCert,
      "--mqtt-key",
      b.clientKey,
    ]);
    plant = await startHop(dir.path, "plant1", [
      "--sim",
      String(points),
      "--sim-rate",
      String(rate),
      "--push",
      `dmz=127.0.0.1:${p1}`,
      ...status,
    ]);
    const last = it;
    await waitFor(
      "it to hold the whole set",
      () => (statusLines(last).at(-1)?.points ?? 0) >= points,
      60_000,
    );
    const seen = statusLines(last).length, plantSeen = statusLines(plant).length;
    const cloudSeen = cloud.windows.length, itSeen = it.lines.length;
    const usage = await measure(
      {
        plant: plant.child.pid,
        dmz: dmz.child.pid,
        it: it.child.pid,
        "cloud broker (mosquitto)": broker.pid,
        "bench (deno)": Deno.pid,
      },
      () =>
        waitFor(
          "the last hop's status lines",
          () => statusLines(last).length >= seen + seconds + 1,
          (seconds + 20) * 1000,
        ).then(() => {}),
    );
    const windowsPerS = statusLines(last).slice(seen + 1, seen + 1 + seconds).map((l) => l.rate);
    const plantPerS = mean(
      statusLines(plant).slice(plantSeen + 1, plantSeen + 1 + seconds).map((l) => l.rate),
    );
    const cloudWindowsPerS = cloud.windows.slice(cloudSeen + 1, cloudSeen + 1 + seconds);
    const busyRuns: SnapshotRun[] = [];
    for (let i = 0; i < snapshotRuns; i++) {
      busyRuns.push(await snapshotToNewHop(dir.path, p2, points));
    }
    // The same with the chain idle: the plant stopped, dmz marked its points (they reach it as
    // Uncertain), and then a whole status interval of it without data (its links' own health
    // points change a few times a second).
    await plant.stop();
    await dmz.waitForLine(/Link with plant1 lost .*points marked/, 10_000);
    const itNow = it, marked = statusLines(it).length;
    await waitFor(
      "it to go idle after the plant's points were marked",
      () => statusLines(itNow).slice(marked + 1).some((l) => l.rate < 100),
      10_000,
    );
    const idleRuns: SnapshotRun[] = [];
    for (let i = 0; i < snapshotRuns; i++) {
      idleRuns.push(await snapshotToNewHop(dir.path, p2, points));
    }
    return {
      idleSnapshotMs: median(idleRuns.map((r) => r.ms)),
      idleSnapshots: idleRuns,
      points,
      simRate: rate,
      atLastHopPerS: Math.round(mean(windowsPerS)),
      windowsPerS,
      plantPerS: Math.round(plantPerS),
      atCloudPerS: Math.round(mean(cloudWindowsPerS)),
      cloudWindowsPerS,
      cloudBuffered: it.lines.slice(itSeen).some((l) => /store-and-forward|buffered/.test(l)),
      usage,
      snapshotMs: median(busyRuns.map((r) => r.ms)),
      busySnapshots: busyRuns,
      simBehind: plant.lines.some((l) => /cannot keep up/.test(l)),
    };
  } finally {
    if (Deno.env.get("VERBOSE")) {
      for (const p of [plant, dmz, it]) {
        console.log(p?.lines.filter((l) => /Status|WRN|ERR|Snapshot of/.test(l)).join("\n"));
      }
    }
    await stopAll(plant, it, dmz);
    await cloud?.close();
    await broker.stop();
  }
}

if (import.meta.main) {
  const r = await measureChain({
    points: Number(Deno.args[0] ?? 100_000),
    rate: Number(Deno.args[1] ?? 600_000),
  });
  console.log(JSON.stringify(r, null, 2));
}
