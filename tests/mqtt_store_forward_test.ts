/**
 * Store-and-forward: while the broker is down, updates go to the on-disk
 * buffer in the hop's data directory; a hop restart in between loses none of
 * them; when the broker returns the history is sent, in order and flagged
 * is_historical, before live data.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { metricValue } from "../adapters/mqtt/sparkplug_codec.ts";
import { simValue } from "../adapters/sim/mod.ts";
import { type Proc, tempDir, waitFor } from "./kit/helpers.ts";
import { LinkProxy, spawnHop } from "./kit/hops.ts";
import { Mosquitto, setupBroker, tlsHopFlags } from "./kit/mosquitto.ts";
import { Observer, type Seen } from "./kit/observer.ts";

/** Bytes in the hop's buffer segment files. */
function bufferBytes(dataDir: string): number {
  let n = 0;
  try {
    for (const e of Deno.readDirSync(join(dataDir, "mqtt", "buffer"))) {
      if (e.name.endsWith(".seg")) n += Deno.statSync(join(dataDir, "mqtt", "buffer", e.name)).size;
    }
  } catch { /* not made yet */ }
  return n;
}

/** The change numbers of the simulator's Int64 point 2 in the DDATA an observer saw, in order. */
function int64Changes(seen: Seen[], byValue: Map<bigint, number>) {
  let alias: bigint | undefined;
  const out: { n: number; historical: boolean; time: number }[] = [];
  for (const s of seen) {
    if (s.topic.endsWith("DBIRTH/plant1/plant1:sim")) {
      alias = s.sp!.metrics.find((m) => m.name === "int64/2")!.alias;
    }
    if (!s.topic.endsWith("DDATA/plant1/plant1:sim")) continue;
    for (const m of s.sp!.metrics) {
      if (m.alias !== alias) continue;
      const n = byValue.get(metricValue(m) as bigint);
      assert(n !== undefined, "an Int64 value the simulator did not make");
      out.push({ n, historical: m.historical, time: m.timestamp! });
    }
  }
  return out;
}

Deno.test("updates made while the broker is down, across a hop restart, all arrive as history before live data", async () => {
  await using dir = await tempDir();
  const setup = await setupBroker(dir.path);
  const broker = new Mosquitto(setup);
  const dataDir = `${dir.path}/hop`;
  const observers: Observer[] = [];
  const hops: Proc[] = [];
  const byValue = new Map<bigint, number>();
  for (let n = 0; n < 20_000; n++) byValue.set(simValue(1, 2, n) as bigint, n);
  try {
    await broker.start();
    const a = await Observer.connect(setup.plainPort, ["spBv1.0/#"]);
    observers.push(a);
    // The hop dials the broker through a proxy, so that the test decides when it gets through.
    await using proxy = new LinkProxy(setup.tlsPort!);
    const direct = `mqtts://localhost:${setup.tlsPort}`;
    const flags = tlsHopFlags(setup, dataDir, ["--sim", "5", "--sim-rate", "100"])
      .map((f) => f === direct ? `mqtts://localhost:${proxy.port}` : f);
    assert(flags.includes(`mqtts://localhost:${proxy.port}`), flags.join(" "));
    const first = spawnHop(dir.path, flags);
    hops.push(first);
    await waitFor(
      "live Int64 updates",
      () => int64Changes(a.seen, byValue).length >= 5 || undefined,
    );

    // Broker down under steady updates: they go to disk.
    await broker.stop();
    await first.waitForLine(/connection to .* lost/);
    await waitFor("buffered updates", () => bufferBytes(dataDir) > 8000 || undefined);
    assertEquals((await first.stop()).code, 0, first.output());
    assert(/batches stay buffered/.test(first.output()), first.output());

    // Restarted while the broker is still down: it keeps buffering behind what is there.
    const restartedAt = Date.now();
    const second = spawnHop(dir.path, flags);
    hops.push(second);
    await second.waitForLine(/buffered batches from an earlier run/);
    const before = bufferBytes(dataDir);
    await waitFor("more buffered updates", () => bufferBytes(dataDir) > before + 8000 || undefined);

    // The hop gets through only once the new observer has subscribed: a reconnect attempt
    // falling between the broker's start and the subscription would send history no one sees.
    proxy.cut();
    await broker.start();
    const b = await Observer.connect(setup.plainPort, ["spBv1.0/#"]);
    observers.push(b);
    proxy.restore();
    await second.waitForLine(/now live/, 20_000);
    await waitFor("live data after the history", () => {
      const c = int64Changes(b.seen, byValue);
      const lastHist = c.findLastIndex((x) => x.historical);
      return lastHist >= 0 && c.length - lastHist > 5 || undefined;
    });

    const seenA = int64Changes(a.seen, byValue);
    const seenB = int64Changes(b.seen, byValue);
    // History strictly precedes live data.
    const firstLive = seenB.findIndex((x) => !x.historical);
    assert(seenB.slice(firstLive).every((x) => !x.historical), "historical data after live data");
    assert(firstLive > 0, "no history was sent");
    // Nothing missing: within each run of the hop, the point's change numbers form one
    // unbroken range (repeats allowed: delivery is at least once), and the first run's
    // updates all arrive before the second's.
    const all = [...seenA, ...seenB];
    const runs = [
      all.filter((x) => x.time < restartedAt).map((x) => x.n),
      all.filter((x) => x.time >= restartedAt).map((x) => x.n),
    ];
    const detail = JSON.stringify(runs);
    for (const run of runs) {
      const unique = [...new Set(run)].sort((x, y) => x - y);
      assert(unique.length > 5, detail);
      assertEquals(unique.at(-1)! - unique[0]!, unique.length - 1, `a gap: ${detail}`);
      for (let i = 1; i < run.length; i++) {
        assert(run[i]! <= run[i - 1]! + 1, `out of order or missing: ${detail}`);
      }
    }
    const lastOfFirst = seenB.findLastIndex((x) => x.time < restartedAt);
    const firstOfSecond = seenB.findIndex((x) => x.time >= restartedAt);
    assert(lastOfFirst >= 0 && lastOfFirst < firstOfSecond, `first run's buffer first: ${detail}`);
    assert(seenB[lastOfFirst]!.historical && seenB[firstOfSecond]!.historical, detail);
    assert(seenB.slice(firstOfSecond).filter((x) => x.historical).length > 5, detail);
  } finally {
    for (const h of hops) await h.stop();
    for (const o of observers) await o.close();
    await broker.stop();
  }
});
