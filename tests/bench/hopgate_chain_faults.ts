/**
 * The hopgate side of broker_chain_faults.ts: the same faults under the same
 * steady load, on a chain of hop processes (plant1 → dmz ← it, mutual TLS,
 * each hop under its derived permissions), seen by a cloud-side hop `ops`
 * pulling it's mirror (what `hopgate watch` shows), in this process.
 *
 *     deno run -A tests/bench/hopgate_chain_faults.ts [--json [out.json]] [--quick]
 *
 * The plant simulates 1,000 points changing 2,000 times/s in total. Heartbeat
 * 1 s and link timeout 5 s (the defaults, and the broker chain's 5 s bridge
 * keepalive). The plant→dmz link goes through the same black-hole proxy as
 * the broker chain's plant bridge. To tell whether the cloud ends with the
 * source's state, the plant also pushes straight to a `truth` hop in this
 * process; at the end the plant is frozen (SIGSTOP) and both mirrors compared.
 */
import {
  type Hop,
  isGood,
  sameValue,
  sleep,
  statusName,
  type StoredPoint,
} from "../../core/mod.ts";
import { chainCerts, LinkProxy, localHop, startHop, stopAll } from "../kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "../kit/helpers.ts";
import { formatTable, writeJsonResult } from "./_report.ts";

type FaultKind = "plant-kill" | "dmz-kill" | "blackhole";

interface Scenario {
  kind: FaultKind;
  label: string;
  faultMs: number;
}

interface FaultResult {
  fault: string;
  faultMs: number;
  /** First point at the cloud turned not good, ms after the fault began; null if never. */
  cloudToldMs: number | null;
  /** Every point at the cloud not good, ms after the fault began. */
  allToldMs: number | null;
  /** The cause the cloud was given: hop, link or source, reason. */
  cause: string | null;
  /** The status the cloud's points carried during the fault. */
  statusDuringFault: string | null;
  /** Latest Good update that reached the cloud during the fault, ms after it began. */
  lastGoodDuringFaultMs: number | null;
  /** Good updates the cloud received after it was told and before the restore (must be 0). */
  goodAfterTold: number;
  /** Points reading Good at the cloud at the end of the fault. */
  goodAtFaultEnd: number;
  /** First Good update at the cloud after the restore, ms after it. */
  freshAfterRestoreMs: number | null;
  /** Every point Good again at the cloud, ms after the restore. */
  allGoodAfterRestoreMs: number | null;
  /** Good updates the source made (as its direct mirror saw them) and the cloud received, whole run. */
  sourceUpdates: number;
  cloudUpdates: number;
  /** Points whose value at the cloud equals the source's once the source is frozen. */
  finalEqual: number;
}

const quick = Deno.args.includes("--quick");
const ratePerS = 2_000;
const pointCount = 1_000;
const warmupMs = 2_000;
const recoverMs = quick ? 3_000 : 5_000;
const scenarios: Scenario[] = [
  { kind: "plant-kill", label: "plant hop killed, restarted", faultMs: 3_000 },
  { kind: "dmz-kill", label: "dmz hop killed, restarted", faultMs: 3_000 },
  { kind: "blackhole", label: "plant→dmz black-holed, restored", faultMs: quick ? 9_000 : 12_000 },
];
const prefix = "plant1/sim/";

/** Counts the Good updates of plant1's points a hop's store applies; calls `on` for every update. */
function tap(hop: Hop, on?: (p: StoredPoint, at: number) => void): { count: number } {
  const c = { count: 0 };
  hop.store.subscribe({
    onUpdate: (p) => {
      if (!p.id.startsWith(prefix)) return;
      if (isGood(p.status)) c.count++;
      on?.(p, performance.now());
    },
    onRemove: () => {},
  });
  return c;
}

async function run(scenario: Scenario): Promise<FaultResult> {
  await using dir = await tempDir("hopgate-chain-faults-");
  await chainCerts(dir.path, ["plant1", "dmz", "it", "ops", "truth"]);
  const pDmz = freePort(), pIt = freePort(), pTruth = freePort();
  await using hole = new LinkProxy(pDmz);
  const dmzFlags = ["--listen", `127.0.0.1:${pDmz}`, "--peers", "plant1:push,it:pull"];
  const plantFlags = [
    "--sim",
    String(pointCount),
    "--sim-rate",
    String(ratePerS),
    "--push",
    `dmz=127.0.0.1:${hole.port}`,
    "--push",
    `truth=127.0.0.1:${pTruth}`,
  ];
  let dmz: Proc | null = null, it: Proc | null = null, plant: Proc | null = null;
  await using truth = await localHop(dir.path, "truth", [
    "--listen",
    `127.0.0.1:${pTruth}`,
    "--peers",
    "plant1:push",
  ]);
  try {
    dmz = await startHop(dir.path, "dmz", dmzFlags);
    it = await startHop(dir.path, "it", [
      "--pull",
      `dmz=127.0.0.1:${pDmz}`,
      "--listen",
      `127.0.0.1:${pIt}`,
      "--peers",
      "ops:pull",
    ]);
    plant = await startHop(dir.path, "plant1", plantFlags);
    await using ops = await localHop(dir.path, "ops", ["--pull", `it=127.0.0.1:${pIt}`]);
    const cloudPoints = () => [...ops.hop.store.values()].filter((p) => p.id.startsWith(prefix));
    await waitFor("the cloud to hold every point, good", () => {
      const ps = cloudPoints();
      return ps.length === pointCount && ps.every((p) => isGood(p.status));
    }, 30_000);

    let faultAt = Infinity, restoreAt = Infinity;
    let told: number | null = null, allTold: number | null = null, cause: string | null = null;
    let status: string | null = null;
    let lastGood: number | null = null, goodAfterTold = 0;
    let fresh: number | null = null, allGood: number | null = null;
    const notGood = new Set<string>();
    const source = tap(truth.hop);
    const cloud = tap(ops.hop, (p, at) => {
      if (at < faultAt) return;
      if (!isGood(p.status)) {
        notGood.add(p.id);
        if (told === null) {
          told = at;
          status = statusName(p.status);
          cause = p.cause ? `${p.cause.hop}: ${p.cause.via}, ${p.cause.reason}` : null;
        }
        if (notGood.size === pointCount && allTold === null) allTold = at;
        return;
      }
      notGood.delete(p.id);
      if (at < restoreAt) {
        lastGood = at;
        if (told !== null) goodAfterTold++;
      } else {
        fresh ??= at;
        if (notGood.size === 0 && allGood === null) allGood = at;
      }
    });
    await sleep(warmupMs);
    faultAt = performance.now();
    if (scenario.kind === "plant-kill") await plant.stop("SIGKILL");
    else if (scenario.kind === "dmz-kill") await dmz.stop("SIGKILL");
    else hole.blackHole();
    await sleep(faultAt + scenario.faultMs - performance.now());
    const goodAtFaultEnd = cloudPoints().filter((p) => isGood(p.status)).length;
    restoreAt = performance.now();
    if (scenario.kind === "plant-kill") plant = await startHop(dir.path, "plant1", plantFlags);
    else if (scenario.kind === "dmz-kill") dmz = await startHop(dir.path, "dmz", dmzFlags);
    else hole.restore();
    await sleep(restoreAt + recoverMs - performance.now());
    // Dialers back off while their peer is gone (up to 10 s): give them time to measure it.
    await waitFor("every point good again", () => allGood !== null, 30_000).catch(() => {});

    // Freeze the source and compare the cloud's final state with the source's direct mirror.
    plant.child.kill("SIGSTOP");
    const equalCount = () => {
      const want = new Map([...truth.hop.store.values()].map((p) => [p.id, p]));
      return cloudPoints().filter((p) => {
        const w = want.get(p.id);
        return w && isGood(p.status) && p.status === w.status && sameValue(p.value, w.value);
      }).length;
    };
    let finalEqual = 0;
    await waitFor("the cloud to settle", () => (finalEqual = equalCount()) === pointCount, 2_000)
      .catch(() => {});
    plant.child.kill("SIGCONT");
    const rel = (t: number | null, from: number) => t === null ? null : Math.round(t - from);
    return {
      fault: scenario.label,
      faultMs: scenario.faultMs,
      cloudToldMs: rel(told, faultAt),
      allToldMs: rel(allTold, faultAt),
      cause,
      statusDuringFault: status,
      lastGoodDuringFaultMs: rel(lastGood, faultAt),
      goodAfterTold,
      goodAtFaultEnd,
      freshAfterRestoreMs: rel(fresh, restoreAt),
      allGoodAfterRestoreMs: rel(allGood, restoreAt),
      sourceUpdates: source.count,
      cloudUpdates: cloud.count,
      finalEqual,
    };
  } finally {
    await stopAll(plant, it, dmz);
  }
}

function table(results: FaultResult[]): string {
  const ms = (x: number | null) => x === null ? "never" : `${x} ms`;
  const rows = [[
    "fault (duration)",
    "cloud told (first / all points)",
    "last good in fault",
    "good after told",
    "fresh after restore (first / all)",
    "good updates source → cloud",
    "final = source",
    "stale pts, shown good",
  ]];
  for (const r of results) {
    rows.push([
      `${r.fault} (${r.faultMs / 1000} s)`,
      `${ms(r.cloudToldMs)} / ${ms(r.allToldMs)}`,
      ms(r.lastGoodDuringFaultMs),
      String(r.goodAfterTold),
      `${ms(r.freshAfterRestoreMs)} / ${ms(r.allGoodAfterRestoreMs)}`,
      `${r.sourceUpdates} → ${r.cloudUpdates}`,
      `${r.finalEqual}/${pointCount}`,
      `${r.goodAtFaultEnd}/${pointCount}`,
    ]);
  }
  return formatTable(rows);
}

if (import.meta.main) {
  const results: FaultResult[] = [];
  for (const s of scenarios) {
    console.error(`hopgate chain faults: ${s.label} …`);
    try {
      results.push(await run(s));
    } catch (e) {
      // Ports come from freePort(), which other processes on a shared machine can take first.
      if (!/did not start/.test((e as Error).message)) throw e;
      console.error(`  a hop did not start (${(e as Error).message.split("\n")[0]}); once more`);
      results.push(await run(s));
    }
  }
  console.log(
    `hopgate chain plant1 → dmz ← it over mutual TLS, ${ratePerS}/s over ${pointCount} points, ` +
      `heartbeat 1 s, link timeout 5 s (defaults), cloud = a hop pulling it's mirror`,
  );
  console.log(table(results));
  for (const r of results) {
    console.log(`${r.fault}: the cloud was told ${r.statusDuringFault} (${r.cause ?? "no cause"})`);
  }
  console.log(
    "Intermediate values are coalesced by design: a link sends each point's latest state, " +
      "so the cloud gets fewer updates than the source made, and converges to its final state.",
  );
  const path = await writeJsonResult("hopgate_chain_faults", Deno.args, {
    deno: Deno.version.deno,
    ratePerS,
    pointCount,
    heartbeatMs: 1000,
    linkTimeoutMs: 5000,
    results,
  });
  if (path) console.log(`wrote ${path}`);
}
