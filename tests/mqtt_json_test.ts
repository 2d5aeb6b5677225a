/**
 * `--mqtt-format json`: one retained message per point, writes on
 * `<prefix>/<point id>/set` with their result, and size-limited batches.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { simValue } from "../adapters/sim/mod.ts";
import { type Proc, tempDir, waitFor } from "./kit/helpers.ts";
import { spawnHop } from "./kit/hops.ts";
import { Mosquitto, setupBroker, tlsHopFlags } from "./kit/mosquitto.ts";
import { Observer } from "./kit/observer.ts";

interface Msg {
  id: string;
  value: unknown;
  type: string;
  code: number;
  status: string;
  time: string;
  cause: unknown;
}

Deno.test("JSON format: a retained message per point, writes refused or reaching the source with their result, batches under the size limit", async () => {
  await using dir = await tempDir();
  const setup = await setupBroker(dir.path);
  const broker = new Mosquitto(setup);
  const observers: Observer[] = [];
  const hops: Proc[] = [];
  try {
    await broker.start();
    const a = await Observer.connect(setup.plainPort, ["hg/#"]);
    observers.push(a);
    const common = ["--mqtt-format", "json", "--mqtt-prefix", "hg"];
    const one = tlsHopFlags(setup, join(dir.path, "plant1"), [
      ...common,
      "--sim",
      "5",
      "--sim-rate",
      "5",
      "--writable",
      "plant1/sim/double/0",
    ]);
    const batched = tlsHopFlags(setup, join(dir.path, "p2"), [
      ...common,
      "--sim",
      "50",
      "--mqtt-batch",
      "--mqtt-max-payload",
      "2000",
    ]).map((f) => f === "plant1" ? "p2" : f);
    for (const flags of [one, batched]) hops.push(spawnHop(dir.path, flags));

    const i64 = await a.waitFor("the Int64 point", (s) => s.topic === "hg/plant1/sim/int64/2");
    const m = a.seen[i64]!.json as Msg;
    assertEquals([m.id, m.type, m.status, m.code, m.cause], [
      "plant1/sim/int64/2",
      "Int64",
      "Good",
      0,
      null,
    ]);
    assert(typeof m.value === "string", "Int64 as an exact decimal string");
    assert(
      Array.from({ length: 100 }, (_, n) => String(simValue(1, 2, n))).includes(m.value as string),
    );
    assert(!Number.isNaN(Date.parse(m.time)));

    // A late subscriber gets every point's retained latest state.
    await waitFor(
      "every point published",
      () =>
        new Set(
            a.seen.map((s) => s.topic).filter((t) => /^hg\/plant1\/sim\/[a-z0-9]+\/\d$/.test(t)),
          )
            .size === 5 || undefined,
    );
    const late = await Observer.connect(setup.plainPort, ["hg/plant1/#"]);
    observers.push(late);
    await waitFor(
      "retained messages",
      () =>
        late.seen.filter((s) => s.retain && !s.topic.includes("$mqtt")).length >= 5 || undefined,
    ).catch((e) => {
      throw new Error(
        `${e}: ${late.seen.map((s) => `${s.topic} ${s.retain}`).join(", ")}\n${hops[0]!.output()}`,
      );
    });

    // Writes: allowed → reaches the simulator; not allowed → refused.
    await a.publish("hg/plant1/sim/double/0/set", JSON.stringify({ value: 42.5 }));
    await a.publish("hg/plant1/sim/int32/1/set", "7");
    const ok = await a.waitFor(
      "write result",
      (s) => s.topic === "hg/plant1/sim/double/0/set/result",
    );
    assertEquals(a.seen[ok]!.json, {
      id: "plant1/sim/double/0",
      code: 0,
      status: "Good",
      value: 42.5,
    });
    await a.waitFor(
      "the written value",
      (s) => s.topic === "hg/plant1/sim/double/0" && (s.json as Msg).value === 42.5,
    );
    const refused = await a.waitFor(
      "refusal",
      (s) => s.topic === "hg/plant1/sim/int32/1/set/result",
    );
    assertEquals((a.seen[refused]!.json as { status: string }).status, "BadNotWritable");

    // Batches: arrays of point messages, each under --mqtt-max-payload.
    // Which points a batch carries depends on what changed when: wait until 50 have been seen.
    const seenInBatches = () => {
      const batches = a.seen.filter((s) => s.topic === "hg/p2/batch");
      const ids = new Set<string>();
      for (const b of batches) {
        if (Array.isArray(b.json)) { for (const p of b.json as Msg[]) ids.add(p.id); }
      }
      return { batches, ids };
    };
    await waitFor("batches carrying 50 points", () => {
      const { batches, ids } = seenInBatches();
      return (batches.length >= 3 && ids.size >= 50) || undefined;
    });
    for (const b of seenInBatches().batches) {
      assert(b.raw.length <= 2000, `batch of ${b.raw.length} bytes`);
      assert(Array.isArray(b.json));
    }
  } finally {
    for (const h of hops) await h.stop();
    for (const o of observers) await o.close();
    await broker.stop();
  }
});
