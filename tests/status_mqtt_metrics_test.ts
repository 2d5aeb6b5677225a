/**
 * The MQTT bridge in /metrics, against mosquitto: the session's state, what
 * it published, and its disk buffer filling while the broker is down and
 * draining when it is back.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { freePort, type Proc, tempDir, waitFor } from "./kit/helpers.ts";
import { spawnHop, stopAll } from "./kit/hops.ts";
import { Mosquitto, setupBroker, tlsHopFlags } from "./kit/mosquitto.ts";
import { parseExposition } from "./kit/prometheus.ts";

Deno.test("metrics follow the MQTT session and its disk buffer while the broker is down and back", async () => {
  await using dir = await tempDir();
  const setup = await setupBroker(dir.path);
  const broker = new Mosquitto(setup);
  const http = freePort();
  const scrape = async () => {
    const r = await fetch(`http://127.0.0.1:${http}/metrics`);
    return parseExposition(await r.text()).samples;
  };
  const m = (name: string) => `${name}{adapter="mqtt"}`;
  let hop: Proc | null = null;
  try {
    await broker.start();
    hop = spawnHop(
      dir.path,
      tlsHopFlags(setup, `${dir.path}/hop`, [
        "--sim",
        "5",
        "--sim-rate",
        "100",
        "--status-http",
        `127.0.0.1:${http}`,
      ]),
    );
    await hop.waitForLine(/Status endpoint on http/);
    const live = await waitFor("updates published", async () => {
      const s = await scrape();
      return s.get('hopgate_adapter_up{adapter="mqtt",kind="mqtt"}') === 1 &&
          s.get(m("hopgate_mqtt_published_updates_total"))! > 0
        ? s
        : undefined;
    });
    assertEquals(live.get(m("hopgate_mqtt_buffer_limit_bytes")), 64 * 1024 * 1024);
    assertEquals(live.get(m("hopgate_mqtt_buffer_records")), 0);
    assertEquals(live.get(m("hopgate_mqtt_buffer_oldest_age_seconds")), 0);
    // The bridge's client certificate as its certificate watch holds it (certs:mqtt).
    const cert = [...live].filter(([k]) =>
      k.startsWith(
        'hopgate_certificate_expiry_timestamp_seconds{name="mqtt",option="mqtt-cert",subject="CN=hop",serial="',
      )
    );
    assertEquals(cert.length, 1, JSON.stringify([...live.keys()]));
    assert(cert[0]![1] > Date.now() / 1000);

    await broker.stop();
    const down = await waitFor("updates spilled to the disk buffer", async () => {
      const s = await scrape();
      return s.get('hopgate_adapter_up{adapter="mqtt",kind="mqtt"}') === 0 &&
          s.get(m("hopgate_mqtt_buffer_records"))! > 0 &&
          s.get(m("hopgate_mqtt_buffer_oldest_age_seconds"))! > 0.2
        ? s
        : undefined;
    }, 15_000);
    assert(down.get(m("hopgate_mqtt_spilled_updates_total"))! > 0);
    assert(down.get(m("hopgate_mqtt_buffer_bytes"))! > 0);

    await broker.start();
    await waitFor("the buffer drained and published", async () => {
      const s = await scrape();
      return s.get('hopgate_adapter_up{adapter="mqtt",kind="mqtt"}') === 1 &&
        s.get(m("hopgate_mqtt_buffer_records")) === 0 &&
        s.get(m("hopgate_mqtt_buffer_oldest_age_seconds")) === 0 &&
        s.get(m("hopgate_mqtt_published_updates_total"))! >
          down.get(m("hopgate_mqtt_published_updates_total"))! +
            down.get(m("hopgate_mqtt_buffer_records"))!;
    }, 20_000);
  } finally {
    await stopAll(hop);
    await broker.stop();
  }
});
