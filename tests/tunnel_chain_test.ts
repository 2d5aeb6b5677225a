/** A chain of hops as separate processes over mutual TLS: mirroring, failure, recovery. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { severity, Status, statusName, type StoredPoint } from "../core/mod.ts";
import { pointLine } from "../tunnel/mod.ts";
import {
  assertSimMirror,
  chainCerts,
  LinkProxy,
  localHop,
  pointsOf,
  startDmz,
  startHop,
  startIt,
  stopAll,
  waitForPoints,
} from "./kit/hops.ts";
import { freePort, mainModule, Proc, runHopgate, tempDir, waitFor } from "./kit/helpers.ts";

const fast = ["--heartbeat", "200ms", "--link-timeout", "1s"];

/** The comparable content of a point line: id, type, value, status (paths differ by watcher). */
function essence(line: string): string {
  const { id, type, value, status } = JSON.parse(line);
  return JSON.stringify({ id, type, value, status });
}

/** Resolves with the ms from now until every point under `prefix` at `hop` has `want` severity. */
function timeUntilAll(
  store: { subscribe: (l: { onUpdate(p: StoredPoint): void; onRemove(): void }) => () => void },
  ids: string[],
  want: "uncertain" | "good",
  ms: number,
): { started: () => void; elapsed: Promise<number> } {
  const pending = new Set(ids);
  let t0 = 0;
  let off = () => {};
  const elapsed = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${pending.size} points still not ${want} after ${ms} ms`));
    }, ms);
    off = store.subscribe({
      onUpdate: (p) => {
        if (pending.has(p.id) && severity(p.status) === want) pending.delete(p.id);
        if (pending.size === 0) {
          clearTimeout(timer);
          off();
          resolve(performance.now() - t0);
        }
      },
      onRemove: () => {},
    });
  });
  return { started: () => t0 = performance.now(), elapsed };
}

Deno.test("a three-hop chain mirrors the source exactly, with link health, and refuses writes by default", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["plant1", "dmz", "it", "ops", "ops2"]);
  const p1 = freePort(), p2 = freePort();
  let dmz: Proc | null = null, it: Proc | null = null, plant: Proc | null = null;
  let watch: Proc | null = null;
  try {
    dmz = await startDmz(dir.path, p1, "plant1:push,it:pull,ops2:pull", [...fast]);
    it = await startIt(dir.path, p1, p2, "ops:pull", [...fast]);
    plant = await startHop(dir.path, "plant1", [
      "--sim",
      "200",
      "--sim-rate",
      "2",
      "--sim-seed",
      "7",
      "--push",
      `dmz=127.0.0.1:${p1}`,
      ...fast,
    ]);
    await using ops = await localHop(dir.path, "ops", [
      "--pull",
      `it=127.0.0.1:${p2}`,
      "--writable",
      "**",
      ...fast,
    ]);
    const points = await waitForPoints(ops.hop, "plant1/sim/", 200, "good");
    assertSimMirror(points, {
      hop: "plant1",
      seed: 7,
      count: 200,
      hops: ["plant1", "dmz", "it", "ops"],
    });
    const big = ops.hop.store.get("plant1/sim/int64/2")!;
    assert(typeof big.value === "bigint" && big.value > 2n ** 53n, String(big.value));

    // The dmz's own mirror, read by the watch command, agrees with the last hop's exactly.
    const certs = join(dir.path, "ops2", "certs");
    watch = new Proc([
      "run",
      "-A",
      mainModule,
      "watch",
      `dmz=127.0.0.1:${p1}`,
      "--name",
      "ops2",
      "--filter",
      "plant1/sim/**",
      "--tls-cert",
      join(certs, "ops2.crt"),
      "--tls-key",
      join(certs, "ops2.key"),
      "--tls-ca",
      join(certs, "ca.crt"),
    ]);
    await waitFor("the dmz mirror (via watch) to equal the last hop's", () => {
      const atDmz = new Map<string, string>();
      for (const l of watch!.lines) {
        if (l.startsWith("{")) atDmz.set(JSON.parse(l).id, essence(l));
      }
      const atLast = pointsOf(ops.hop.store.values(), "plant1/sim/");
      return atDmz.size === 200 && atLast.every((p) => atDmz.get(p.id) === essence(pointLine(p)));
    });
    assert(watch.lines.some((l) => /watch: connected: receiving from dmz/.test(l)));

    // A hop pulling a peer runs its start-up collection once the peer's first snapshot is in.
    const itLog = it.lines;
    const putOff = itLog.findIndex((l) =>
      /Start-up collection put off until the first snapshot from dmz \(link:dmz\) in/.test(l)
    );
    const snapshot = itLog.findIndex((l) => /Snapshot from dmz: \d+ points/.test(l));
    const collected = itLog.findIndex((l) => /Started, first data in: gave back heap/.test(l));
    assert(
      putOff >= 0 && snapshot > putOff && collected > snapshot,
      `it's start-up collection, in order:\n${itLog.join("\n")}`,
    );

    // Link health travels with the data.
    const up = ops.hop.store.get("dmz/$links/plant1/connected")!;
    assertEquals(up.value, true);
    assertEquals(up.hops, ["dmz", "it", "ops"]);
    const rtt = await waitFor("an rtt measurement", () => {
      const p = ops.hop.store.get("it/$links/dmz/rtt_ms");
      return p && p.status === Status.Good ? p : undefined;
    });
    assert(typeof rtt.value === "number" && rtt.value >= 0 && rtt.value < 1000);

    // Nothing is writable unless every hop allows it.
    const refused = await ops.hop.write({ id: "plant1/sim/double/0", value: 1.5, via: [] });
    assertEquals(statusName(refused), "BadNotWritable");
  } finally {
    await stopAll(watch, plant, it, dmz);
  }
});

Deno.test("killing the plant shows at the last hop at once with the cause, and a restart resynchronises", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["plant1", "dmz", "it", "ops"]);
  const p1 = freePort(), p2 = freePort();
  let dmz: Proc | null = null, it: Proc | null = null, plant: Proc | null = null;
  // The first address is dead: the plant must go on to the next one, each time it connects.
  const dead = freePort();
  const plantFlags = [
    "--sim",
    "50",
    "--sim-rate",
    "20",
    "--push",
    `dmz=127.0.0.1:${dead},127.0.0.1:${p1}`,
    ...fast,
  ];
  try {
    dmz = await startDmz(dir.path, p1, "plant1:push,it:pull", [...fast]);
    it = await startIt(dir.path, p1, p2, "ops:pull", [...fast]);
    plant = await startHop(dir.path, "plant1", plantFlags);
    await using ops = await localHop(dir.path, "ops", ["--pull", `it=127.0.0.1:${p2}`, ...fast]);
    const before = await waitForPoints(ops.hop, "plant1/sim/", 50, "good");

    const failure = timeUntilAll(ops.hop.store, before.map((p) => p.id), "uncertain", 5000);
    failure.started();
    plant.child.kill("SIGKILL");
    const ms = await failure.elapsed;
    console.log(`failure seen at the last hop ${ms.toFixed(1)} ms after SIGKILL of the plant`);
    assert(ms < 1000, `${ms} ms`);
    for (const p of pointsOf(ops.hop.store.values(), "plant1/sim/")) {
      assertEquals(p.status, Status.UncertainNoCommunicationLastUsableValue);
      assertEquals(p.cause?.hop, "dmz");
      assertEquals(p.cause?.via, "link:plant1");
      assert(/closed/.test(p.cause?.reason ?? ""), p.cause?.reason);
    }
    await waitFor(
      "dmz to report its plant link down",
      () => ops.hop.store.get("dmz/$links/plant1/connected")?.value === false,
    );
    await waitFor(
      "the down link's last round trip to turn uncertain",
      () =>
        ops.hop.store.get("dmz/$links/plant1/rtt_ms")?.status === Status.UncertainLastUsableValue,
    );

    plant = await startHop(dir.path, "plant1", plantFlags);
    const after = await waitForPoints(ops.hop, "plant1/sim/", 50, "good");
    assertSimMirror(after, {
      hop: "plant1",
      seed: 1,
      count: 50,
      hops: ["plant1", "dmz", "it", "ops"],
      maxChanges: 400,
    });
    assert(after.every((p) => p.cause === null));
  } finally {
    await stopAll(plant, it, dmz);
  }
});

Deno.test("a black-holed link fails its points within the link timeout, and recovers when restored", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["plant1", "dmz", "ops"]);
  const p1 = freePort();
  await using proxy = new LinkProxy(p1);
  let dmz: Proc | null = null, plant: Proc | null = null;
  try {
    dmz = await startDmz(dir.path, p1, "plant1:push,ops:pull", [...fast]);
    plant = await startHop(dir.path, "plant1", [
      "--sim",
      "30",
      "--sim-rate",
      "10",
      "--push",
      `dmz=127.0.0.1:${proxy.port}`,
      ...fast,
    ]);
    await using ops = await localHop(dir.path, "ops", ["--pull", `dmz=127.0.0.1:${p1}`, ...fast]);
    const ids = (await waitForPoints(ops.hop, "plant1/sim/", 30, "good")).map((p) => p.id);

    const failure = timeUntilAll(ops.hop.store, ids, "uncertain", 5000);
    failure.started();
    proxy.blackHole();
    const ms = await failure.elapsed;
    console.log(`black-holed link failed at the next hop after ${ms.toFixed(0)} ms (timeout 1000)`);
    assert(ms > 500 && ms < 2000, `${ms} ms`);
    const p = ops.hop.store.get(ids[0]!)!;
    assert(/heartbeat timeout/.test(p.cause?.reason ?? ""), String(p.cause?.reason));

    proxy.restore();
    const back = await waitForPoints(ops.hop, "plant1/sim/", 30, "good", 15_000);
    assertSimMirror(back, {
      hop: "plant1",
      seed: 1,
      count: 30,
      hops: ["plant1", "dmz", "ops"],
      maxChanges: 400,
    });
    assert(back.every((x) => x.cause === null));
  } finally {
    await stopAll(plant, dmz);
  }
});

Deno.test("watch refuses an address that is not [hop=]host:port, with exit code 2", async () => {
  const r = await runHopgate(["watch", "dmz=nowhere", "--name", "ops"]);
  assertEquals(r.code, 2, r.stderr);
  assert(/"dmz=nowhere" is not \[hop=\]host:port/.test(r.stderr), r.stderr);
});

Deno.test("a reconnect resynchronises the chain exactly, including points removed while the link was down", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["src", "dmz", "ops"]);
  const p1 = freePort();
  await using proxy = new LinkProxy(p1);
  let dmz: Proc | null = null;
  try {
    dmz = await startDmz(dir.path, p1, "src:push,ops:pull", [...fast]);
    // The source runs in this process so the test can remove points from it.
    await using src = await localHop(dir.path, "src", [
      "--push",
      `dmz=127.0.0.1:${proxy.port}`,
      ...fast,
    ]);
    const put = (i: number, value: number) =>
      src.hop.store.apply({
        id: `src/p/${i}`,
        value,
        type: "Double",
        status: Status.Good,
        time: Date.now(),
        hops: [],
        cause: null,
      }, "test");
    for (let i = 0; i < 100; i++) put(i, i);
    await using ops = await localHop(dir.path, "ops", ["--pull", `dmz=127.0.0.1:${p1}`, ...fast]);
    await waitForPoints(ops.hop, "src/p/", 100, "good");

    proxy.blackHole();
    await waitForPoints(ops.hop, "src/p/", 100, "uncertain");
    for (let i = 0; i < 100; i += 10) src.hop.store.remove(`src/p/${i}`);
    for (let i = 1; i < 100; i += 10) put(i, 1000 + i);
    put(100, 100);
    proxy.restore();

    const after = await waitForPoints(ops.hop, "src/p/", 91, "good", 15_000);
    const want = pointsOf(src.hop.store.values(), "src/p/");
    assertEquals(after.map((p) => [p.id, p.value]), want.map((p) => [p.id, p.value]));
    assert(after.every((p) => p.cause === null));
  } finally {
    await stopAll(dmz);
  }
});
