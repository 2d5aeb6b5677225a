/**
 * What a cloud subscriber of a mosquitto chain (plant → dmz ← it, TCP bridges)
 * learns when a part of the chain fails, and what is lost: the plant broker
 * killed and restarted, the dmz broker killed and restarted, and the
 * plant → dmz path black-holed (a proxy stops forwarding without closing) and
 * restored. The baseline for hopgate's fault behaviour.
 *
 *     deno run -A tests/bench/broker_chain_faults.ts [--json [out.json]] [--quick]
 *
 * Bridges publish their connection state (`notifications true`) and the it
 * broker's bridge also pulls `$SYS/broker/connection/#` from the dmz, since
 * `#` never matches `$SYS` topics: this is the most a broker chain can tell
 * the cloud. See docs/benchmarks.md.
 */
import { sleep } from "../../core/mod.ts";
import { tempDir } from "../kit/helpers.ts";
import { LinkProxy } from "../kit/hops.ts";
import { connect, now, pointTopics, Publisher, Subscriber } from "./_load.ts";
import { BrokerChain } from "../kit/mosquitto.ts";
import { formatTable, writeJsonResult } from "./_report.ts";

type FaultKind = "plant-kill" | "dmz-kill" | "blackhole";

interface Scenario {
  kind: FaultKind;
  label: string;
  faultMs: number;
}

/** A message on a bridge notification topic, relative to the fault's start. */
interface Notice {
  topic: string;
  payload: string;
  atMs: number;
}

/** What one fault did to the updates the cloud subscriber saw. */
interface FaultResult {
  qos: 0 | 1;
  fault: string;
  faultMs: number;
  /** First "0" on a bridge notification topic at the cloud after the fault began, ms after it; null if none. */
  cloudToldMs: number | null;
  cloudToldTopic: string | null;
  /** Every notification at the cloud from the fault's start on. */
  notices: Notice[];
  /** Latest update that reached the cloud during the fault, ms after it began. */
  lastUpdateDuringFaultMs: number | null;
  /** First update sent after the restore that reached the cloud, ms after the restore. */
  freshAfterRestoreMs: number | null;
  sent: number;
  sentDuringFault: number;
  lost: number;
  lostDuringFault: number;
  duplicates: number;
  /** Points whose latest value at the cloud was older than 1 s when the fault ended (all read as good). */
  staleAtFaultEnd: number;
}

const quick = Deno.args.includes("--quick");
const ratePerS = 2_000;
const pointCount = 1_000;
const warmupMs = 2_000;
const recoverMs = quick ? 3_000 : 5_000;
/** Bridge keepalive: mosquitto's default of 60 s would hide a black hole for 90 s. */
const keepaliveS = 5;
const scenarios: Scenario[] = [
  { kind: "plant-kill", label: "plant broker killed, restarted", faultMs: 3_000 },
  { kind: "dmz-kill", label: "dmz broker killed, restarted", faultMs: 3_000 },
  {
    kind: "blackhole",
    label: "plant→dmz black-holed, restored",
    faultMs: quick ? 9_000 : 12_000,
  },
];

async function run(qos: 0 | 1, scenario: Scenario): Promise<FaultResult> {
  await using dir = await tempDir(`hopgate-broker-faults-`);
  let hole: LinkProxy | undefined;
  const chain = await BrokerChain.start({
    dir: dir.path,
    tls: false,
    qos,
    topics: ["plant1/#"],
    brokers: 3,
    // QoS 1 with persistent bridge sessions is the configuration meant not to lose data.
    bridge: { cleanSession: qos === 0, keepaliveS, restartTimeoutS: 1, notifications: true },
    itExtraTopics: ["$SYS/broker/connection/#"],
    via: (dmzPort) => (hole = new LinkProxy(dmzPort)).port,
  });
  const sub = new Subscriber(await connect(chain.last.port));
  const pub = new Publisher(
    await connect(chain.plant.port, { reconnectMs: 250 }),
    pointTopics(pointCount),
    qos,
  );
  try {
    await sub.client.subscribeAsync({ "plant1/#": { qos }, "$SYS/broker/connection/#": { qos } });
    const deadline = now() + 10_000;
    while (sub.received === 0) {
      if (now() > deadline) throw new Error("The chain never delivered");
      await pub.batch(1);
      await sleep(20);
    }
    await sub.drain(200);
    sub.reset();
    pub.seq = 0;

    const steady = pub.paced(ratePerS, warmupMs + scenario.faultMs + recoverMs);
    await sleep(warmupMs);
    const faultAt = now();
    const seqAtFault = pub.seq;
    let lastDuringFault: number | null = null;
    let freshAfterRestore: number | null = null;
    let restoreAt = Infinity;
    let seqAtRestore = Infinity;
    sub.onUpdate = (seq, at) => {
      if (at < restoreAt) lastDuringFault = at;
      else if (seq >= seqAtRestore && freshAfterRestore === null) freshAfterRestore = at;
    };

    if (scenario.kind === "plant-kill") await chain.plant.stop("SIGKILL");
    else if (scenario.kind === "dmz-kill") await chain.dmz.stop("SIGKILL");
    else hole!.blackHole();
    await sleep(faultAt + scenario.faultMs - now());
    const staleAtFaultEnd = [...sub.lastByTopic.values()].filter((t) => now() - t > 1_000).length;
    const seqAtEnd = pub.seq;
    if (scenario.kind === "plant-kill") await chain.plant.restart();
    else if (scenario.kind === "dmz-kill") await chain.dmz.restart();
    else hole!.restore();
    restoreAt = now();
    seqAtRestore = pub.seq;

    await steady;
    await sub.drain(500, 5_000);

    let lostDuringFault = 0;
    let lost = 0;
    for (let seq = 0; seq < pub.seq; seq++) {
      if (sub.has(seq)) continue;
      lost++;
      if (seq >= seqAtFault && seq < seqAtEnd) lostDuringFault++;
    }
    const notices = sub.other.filter((m) => m.at >= faultAt).map((m) => ({
      topic: m.topic,
      payload: m.payload,
      atMs: Math.round(m.at - faultAt),
    }));
    const told = notices.find((n) => n.payload === "0");
    const rel = (t: number | null, from: number) => t === null ? null : Math.round(t - from);
    return {
      qos,
      fault: scenario.label,
      faultMs: scenario.faultMs,
      cloudToldMs: told?.atMs ?? null,
      cloudToldTopic: told?.topic ?? null,
      notices,
      lastUpdateDuringFaultMs: rel(lastDuringFault, faultAt),
      freshAfterRestoreMs: rel(freshAfterRestore, restoreAt),
      sent: pub.seq,
      sentDuringFault: seqAtEnd - seqAtFault,
      lost,
      lostDuringFault,
      duplicates: sub.duplicates,
      staleAtFaultEnd,
    };
  } finally {
    pub.client.end(true);
    sub.client.end(true);
    await hole?.close();
    await chain.stop();
  }
}

function table(results: FaultResult[]): string {
  const ms = (x: number | null) => x === null ? "never" : `${x} ms`;
  const rows = [[
    "QoS",
    "fault (duration)",
    "cloud told (first state 0)",
    "last update in fault",
    "fresh after restore",
    "sent",
    "lost (in fault)",
    "dup",
    "stale pts, shown good",
  ]];
  for (const r of results) {
    const who = r.cloudToldTopic?.replace("$SYS/broker/connection/", "").replace("/state", "");
    rows.push([
      String(r.qos),
      `${r.fault} (${r.faultMs / 1000} s)`,
      r.cloudToldMs === null ? "never" : `${r.cloudToldMs} ms (${who})`,
      ms(r.lastUpdateDuringFaultMs),
      ms(r.freshAfterRestoreMs),
      String(r.sent),
      `${r.lost} (${r.lostDuringFault}/${r.sentDuringFault})`,
      String(r.duplicates),
      `${r.staleAtFaultEnd}/${pointCount}`,
    ]);
  }
  return formatTable(rows);
}

if (import.meta.main) {
  const results: FaultResult[] = [];
  for (const qos of [0, 1] as const) {
    for (const s of scenarios) {
      console.error(`broker chain faults: QoS ${qos}, ${s.label} …`);
      results.push(await run(qos, s));
    }
  }
  console.log(
    `mosquitto chain plant → dmz ← it over TCP, ${ratePerS}/s over ${pointCount} points, ` +
      `bridge keepalive ${keepaliveS} s, restart_timeout 1 s, QoS 1 with cleansession false`,
  );
  console.log(table(results));
  for (const r of results) {
    const n = r.notices.map((n) => `${n.topic.split("/")[3]}=${n.payload}@${n.atMs}ms`).join(" ");
    console.log(`QoS ${r.qos}, ${r.fault}: notifications at the cloud: ${n || "none"}`);
  }
  const path = await writeJsonResult("broker_chain_faults", Deno.args, {
    deno: Deno.version.deno,
    ratePerS,
    pointCount,
    keepaliveS,
    results,
  });
  if (path) console.log(`wrote ${path}`);
}
