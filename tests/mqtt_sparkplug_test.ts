/**
 * The hop as a Sparkplug B edge node against a real mosquitto with TLS and a
 * client certificate, run as a subprocess under its derived permissions, seen
 * by an independent subscriber that decodes with the Tahu schema.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { encodePayload, hopgateType, metricValue } from "../adapters/mqtt/sparkplug_codec.ts";
import { simPoint, simValue } from "../adapters/sim/mod.ts";
import { sameValue } from "../core/mod.ts";
import { type Proc, tempDir, waitFor } from "./kit/helpers.ts";
import { spawnHop } from "./kit/hops.ts";
import { Mosquitto, setupBroker, tlsHopFlags } from "./kit/mosquitto.ts";
import { Observer, type Seen } from "./kit/observer.ts";

const node = "spBv1.0/hopgate";
const isNode = (s: Seen) => s.topic.startsWith(`${node}/`) && s.topic.split("/")[3] === "plant1";
const kind = (s: Seen) => s.topic.split("/")[2];

/** Every message of the node after a NBIRTH has seq one more than the last (mod 256). */
function checkSeq(seen: Seen[]): number {
  let last = -1;
  let checked = 0;
  for (const s of seen.filter(isNode)) {
    const k = kind(s);
    if (k === "NDEATH" || k === "NCMD" || k === "DCMD") continue;
    if (k === "NBIRTH") {
      assertEquals(s.sp!.seq, 0, "NBIRTH has seq 0");
    } else if (last >= 0) {
      assertEquals(s.sp!.seq, (last + 1) % 256, `seq after ${last} on ${s.topic}`);
      checked++;
    }
    last = s.sp!.seq!;
  }
  return checked;
}

function bdSeq(s: Seen): bigint {
  const m = s.sp!.metrics.find((m) => m.name === "bdSeq");
  assert(m && m.datatype === 8, "bdSeq is a UInt64 metric");
  return m.raw as bigint;
}

Deno.test("Sparkplug edge node: births with every metric, aliases in DDATA, seq and bdSeq across a broker restart, rebirth, commands and NDEATH", async () => {
  await using dir = await tempDir();
  const setup = await setupBroker(dir.path);
  const broker = new Mosquitto(setup);
  const observers: Observer[] = [];
  let hop: Proc | null = null;
  try {
    await broker.start();
    const a = await Observer.connect(setup.plainPort, ["spBv1.0/#"]);
    observers.push(a);
    hop = spawnHop(
      dir.path,
      tlsHopFlags(setup, `${dir.path}/hop`, [
        "--sim",
        "10",
        "--sim-rate",
        "20",
        "--writable",
        "plant1/sim/double/0",
      ]),
    );
    const nb = await a.waitFor("NBIRTH", (s) => kind(s) === "NBIRTH" && isNode(s));
    const b0 = bdSeq(a.seen[nb]!);
    const dbIdx = await a.waitFor(
      "DBIRTH of plant1:sim",
      (s) => s.topic.endsWith("DBIRTH/plant1/plant1:sim"),
    );
    const birth = a.seen[dbIdx]!.sp!;

    // Every point, with its name, datatype, a value the simulator made, and a unique alias.
    assertEquals(birth.metrics.length, 10);
    const aliases = new Map<bigint, string>();
    for (let i = 0; i < 10; i++) {
      const { id, type } = simPoint("plant1", i);
      const name = id.split("/").slice(2).join("/");
      const m = birth.metrics.find((m) => m.name === name);
      assert(m, `DBIRTH lacks ${name}`);
      assertEquals(hopgateType(m.datatype!), type, name);
      const v = metricValue(m);
      assert(
        Array.from({ length: 500 }, (_, n) => simValue(1, i, n)).some((s) => sameValue(s, v)),
        `${name}=${String(v)} is not a simulator value`,
      );
      assert(m.alias !== undefined && m.alias > 0n && !aliases.has(m.alias), `alias of ${name}`);
      aliases.set(m.alias, name);
    }
    assert(a.seen.some((s) => s.topic.endsWith("DBIRTH/plant1/plant1:$mqtt")), "status device");

    // DDATA: aliases only, of born metrics, with their datatypes.
    await waitFor(
      "10 DDATA",
      () =>
        a.seen.filter((s) => s.topic.endsWith("DDATA/plant1/plant1:sim")).length >= 10 || undefined,
    );
    for (const s of a.seen.filter((s) => s.topic.endsWith("DDATA/plant1/plant1:sim"))) {
      for (const m of s.sp!.metrics) {
        assertEquals(m.name, undefined);
        const name = aliases.get(m.alias!);
        assert(name, `unknown alias ${m.alias}`);
        const i = Number(name.split("/")[1]);
        assertEquals(hopgateType(m.datatype!), simPoint("plant1", i).type);
      }
    }

    // Rebirth on command: a full birth, same bdSeq, seq from 0.
    const before = a.seen.length;
    await a.publish(
      `${node}/NCMD/plant1`,
      encodePayload({
        timestamp: Date.now(),
        metrics: [{ name: "Node Control/Rebirth", type: "Boolean", value: true }],
      }),
    );
    const rb = await a.waitFor("rebirth NBIRTH", (s) => kind(s) === "NBIRTH", before);
    assertEquals(bdSeq(a.seen[rb]!), b0);
    await a.waitFor("rebirth DBIRTH", (s) => s.topic.endsWith("DBIRTH/plant1/plant1:sim"), rb);

    // Commands: a writable point takes the value at the source; another is refused.
    const aliasOf = (name: string) => [...aliases].find(([, n]) => n === name)![0];
    const cmdAt = a.seen.length;
    await a.publish(
      `${node}/DCMD/plant1/plant1:sim`,
      encodePayload({
        timestamp: Date.now(),
        metrics: [
          { name: "double/0", type: "Double", value: 42.5 },
          { alias: aliasOf("int32/1"), type: "Int32", value: 7 },
        ],
      }),
    );
    const res = await a.waitFor(
      "write results",
      (s) => s.sp?.metrics.some((m) => m.properties.WriteStatus !== undefined) ?? false,
      cmdAt,
    );
    const results = a.seen[res]!.sp!.metrics;
    const ok = results.find((m) => m.alias === aliasOf("double/0"))!;
    assertEquals(ok.properties.WriteStatus, "Good");
    assertEquals(metricValue(ok), 42.5);
    const refused = results.find((m) => m.alias === aliasOf("int32/1"))!;
    assertEquals(refused.properties.WriteStatus, "BadNotWritable");
    assert(metricValue(refused) !== 7);
    // The hop's log line may reach this process after the broker's message does.
    await hop.waitForLine(/not allowed by --writable/, 5_000);
    assert(checkSeq(a.seen) > 10);

    // Broker restart: a new session with the next bdSeq, and seq from 0 again.
    await broker.stop();
    await hop.waitForLine(/connection to .* lost/);
    await broker.start();
    const b = await Observer.connect(setup.plainPort, ["spBv1.0/#"]);
    observers.push(b);
    let asked = Date.now();
    const nb2 = await waitFor("NBIRTH after the broker restart", async () => {
      const i = b.seen.findIndex((s) => kind(s) === "NBIRTH");
      if (i >= 0) return i;
      // The hop may have been reborn before this observer subscribed: ask again.
      if (Date.now() - asked > 2000) {
        asked = Date.now();
        await b.publish(
          `${node}/NCMD/plant1`,
          encodePayload({
            timestamp: Date.now(),
            metrics: [{ name: "Node Control/Rebirth", type: "Boolean", value: true }],
          }),
        );
      }
      return undefined;
    });
    const b1 = bdSeq(b.seen[nb2]!);
    assert(b1 !== b0, `bdSeq ${b1} after reconnecting must differ from ${b0}`);
    assert(b1 >= 0n && b1 <= 255n);
    await waitFor(
      "DDATA after the restart",
      () => b.seen.filter((s) => kind(s) === "DDATA").length >= 5 || undefined,
    );

    // A graceful stop publishes NDEATH with the session's bdSeq.
    const status = await hop.stop();
    hop = null;
    assertEquals(status.code, 0);
    const nd = await b.waitFor("NDEATH", (s) => kind(s) === "NDEATH");
    assertEquals(bdSeq(b.seen[nd]!), b1);
    checkSeq(b.seen.slice(nb2));
  } finally {
    if (hop) await hop.stop();
    for (const o of observers) await o.close();
    await broker.stop();
  }
});
