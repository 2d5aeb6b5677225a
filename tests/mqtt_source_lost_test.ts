/**
 * A source whose link is lost: its Sparkplug device dies (DDEATH), metrics
 * with a non-good status carry Quality, and a restored source is born again
 * with good values. In process: a Hop with a fake source and the real MQTT
 * adapter against mosquitto (TLS, client certificate).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { MqttAdapter } from "../adapters/mqtt/mod.ts";
import { metricValue } from "../adapters/mqtt/sparkplug_codec.ts";
import { type Point, Status } from "../core/mod.ts";
import { Hop } from "../core/hop.ts";
import { HandSource } from "./kit/hand_source.ts";
import { flagsConfig, tempDir, waitFor } from "./kit/helpers.ts";
import { tlsHopFlags } from "./kit/mosquitto.ts";
import { observedBroker } from "./kit/observer.ts";

/** A source the test drives by hand; `set` applies one point with its status. */
class FakeSource extends HandSource {
  constructor() {
    super("plc", "fake");
  }
  set(id: string, value: Point["value"], type: Point["type"], status: number = Status.Good) {
    this.apply({ id, value, type, status });
  }
}

Deno.test("a lost source's device gets DDEATH, bad metrics carry Quality, and a restored source is born again with good values", async () => {
  await using dir = await tempDir();
  await using cloud = await observedBroker(dir.path, ["spBv1.0/#"]);
  const { setup, obs: o } = cloud;
  let hop: Hop | null = null;
  try {
    const { config } = flagsConfig(dir.path, tlsHopFlags(setup, `${dir.path}/hop`, ["--sim", "1"]));
    const source = new FakeSource();
    hop = new Hop(config, [source, new MqttAdapter()]);
    await hop.start();
    source.set("plant1/plc1/a", 1.5, "Double");
    source.set("plant1/plc1/b", (1n << 60n) + 1n, "Int64");
    source.set("plant1/plc2/c", 3, "Int32");
    source.set("plant1/plc2/d", "ok", "String");
    const born = await o.waitFor(
      "DBIRTH plant1:plc1",
      (s) => s.topic.endsWith("DBIRTH/plant1/plant1:plc1"),
    );
    await o.waitFor("DBIRTH plant1:plc2", (s) => s.topic.endsWith("DBIRTH/plant1/plant1:plc2"));
    const alias = new Map(o.seen[born]!.sp!.metrics.map((m) => [m.name!, m.alias!]));

    // One bad metric in a live device: DDATA with Quality 0 and the OPC UA status code.
    source.set("plant1/plc2/c", null, "Int32", Status.BadOutOfService);
    const bad = await o.waitFor(
      "DDATA with Quality",
      (s) =>
        s.topic.endsWith("DDATA/plant1/plant1:plc2") &&
        s.sp!.metrics.some((m) => m.properties.Quality === 0),
    );
    const m = o.seen[bad]!.sp!.metrics.find((m) => m.properties.Quality === 0)!;
    assertEquals(m.properties.StatusCode, Status.BadOutOfService);
    assertEquals(m.isNull, true);

    // The whole source lost: its device dies; the other device stays.
    hop.store.failOrigin("plc", {
      hop: "plant1",
      via: "opcua:plc1",
      since: Date.now(),
      reason: "connection reset",
    });
    const death = await o.waitFor("DDEATH", (s) => s.topic.includes("/DDEATH/"), bad);
    const deaths = o.seen.slice(death).filter((s) => s.topic.includes("/DDEATH/")).map((s) =>
      s.topic
    );
    assert(deaths.some((t) => t.endsWith("/plant1:plc1")), deaths.join());

    // Restored: a DBIRTH with good values and good quality.
    source.set("plant1/plc1/a", 2.5, "Double");
    source.set("plant1/plc1/b", (1n << 60n) + 2n, "Int64");
    const reborn = await o.waitFor(
      "DBIRTH after restore",
      (s) => s.topic.endsWith("DBIRTH/plant1/plant1:plc1"),
      death,
    );
    await o.waitFor(
      "good values",
      (s) =>
        (s.topic.endsWith("DBIRTH/plant1/plant1:plc1") ||
          s.topic.endsWith("DDATA/plant1/plant1:plc1")) &&
        s.sp!.metrics.some((m) =>
          m.alias === alias.get("b") && metricValue(m) === (1n << 60n) + 2n
        ) &&
        s.sp!.metrics.every((m) =>
          m.properties.Quality === undefined || m.properties.Quality === 192
        ),
      reborn,
    );
    const rb = o.seen[reborn]!.sp!.metrics;
    assertEquals(rb.map((m) => m.alias).sort(), [alias.get("a"), alias.get("b")].sort());
    for (const m of rb) {
      // Either the restored value, or the last one still marked as not good.
      const q = m.properties.Quality;
      assert(q === undefined || q === 192 || q === 64, `quality ${String(q)}`);
    }
  } finally {
    await hop?.stop();
  }
});

Deno.test("with a primary host, the edge node is born only once the host's STATE says online, and dies when it goes offline", async () => {
  await using dir = await tempDir();
  await using cloud = await observedBroker(dir.path, ["spBv1.0/#"]);
  const { setup, obs: o } = cloud;
  let hop: Hop | null = null;
  try {
    const state = "spBv1.0/STATE/scada1";
    await o.publishRetained(state, JSON.stringify({ online: false, timestamp: Date.now() }));
    const { config } = flagsConfig(
      dir.path,
      tlsHopFlags(setup, `${dir.path}/hop`, ["--sim", "1", "--mqtt-primary-host", "scada1"]),
    );
    const adapter = new MqttAdapter();
    hop = new Hop(config, [new FakeSource(), adapter]);
    await hop.start();
    await waitFor("connected", () => adapter.status().connection === "connected" || undefined);
    // Connected, subscribed and told the host is offline: no birth.
    // The session is up (its status point is set once the session started) and a round
    // trip through the broker has passed: a birth would have been seen by now.
    const h = hop;
    await waitFor(
      "session started",
      () => h.store.get("plant1/$mqtt/connected")?.value === true || undefined,
    );
    await o.publish("spBv1.0/ping", "x");
    await o.waitFor("ping", (s) => s.topic === "spBv1.0/ping");
    assert(
      !o.seen.some((s) => s.topic.includes("/NBIRTH/")),
      "born while the primary host is offline",
    );
    await o.publishRetained(state, JSON.stringify({ online: true, timestamp: Date.now() }));
    const nb = await o.waitFor("NBIRTH", (s) => s.topic.includes("/NBIRTH/"));
    await o.publishRetained(state, JSON.stringify({ online: false, timestamp: Date.now() }));
    await o.waitFor("NDEATH", (s) => s.topic.includes("/NDEATH/"), nb);
  } finally {
    await hop?.stop();
  }
});
