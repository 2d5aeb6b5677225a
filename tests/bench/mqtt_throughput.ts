/**
 * MQTT bridge throughput into a local mosquitto (plain TCP, set_tcp_nodelay,
 * QoS 1): a burst of updates to 1,000 points as Sparkplug DDATA, as JSON
 * messages per point and as JSON batches, timed until the broker has every
 * point's last value (updates the broker could not keep up with are coalesced,
 * so "carried" can be less than "updates"), and how fast the store-and-forward
 * buffer drains after an outage (every change, as history). The subscriber decodes every message in the same process,
 * so the figures are a floor on this 2-core machine.
 *
 *   deno run -A tests/bench/mqtt_throughput.ts [updates=200000]
 */
import "../../adapters/all.ts";
import { MqttAdapter } from "../../adapters/mqtt/mod.ts";
import { resolveConfig } from "../../core/mod.ts";
import { Hop } from "../../core/hop.ts";
import { waitFor } from "../kit/helpers.ts";
import { Mosquitto, setupBroker } from "../kit/mosquitto.ts";
import { Observer } from "../kit/observer.ts";
import { FloodSource } from "../kit/flood_source.ts";

const updates = Number(Deno.args[0] ?? 200_000);
const points = 1000;

/** Metric updates carried by what the observer saw (Sparkplug DDATA metrics or JSON points). */
function carried(o: Observer, historical?: boolean): number {
  let n = 0;
  for (const s of o.seen) {
    if (s.sp && s.topic.includes("/DDATA/") && s.topic.endsWith(":bench")) {
      for (const m of s.sp.metrics) {
        if (historical === undefined || m.historical === historical) n++;
      }
    } else if (Array.isArray(s.json)) n += s.json.length;
    else if (s.json && s.topic.startsWith("bench/plant1/bench/")) n++;
  }
  return n;
}

async function run(
  label: string,
  flags: Record<string, unknown>,
  topics: string[],
  outage = false,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hopgate-bench-" });
  const setup = await setupBroker(dir);
  const broker = new Mosquitto(setup);
  let hop: Hop | null = null;
  let obs: Observer | null = null;
  try {
    const config = resolveConfig([{
      label: null,
      baseDir: dir,
      values: {
        name: "plant1",
        sim: 1,
        "data-dir": `${dir}/hop`,
        mqtt: `mqtt://127.0.0.1:${setup.plainPort}`,
        "mqtt-allow-plaintext": true,
        "mqtt-buffer-size": "1GB",
        ...flags,
      },
    }]);
    const source = new FloodSource(points);
    if (!outage) await broker.start();
    obs = outage ? null : await Observer.connect(setup.plainPort, topics);
    const mqtt = new MqttAdapter();
    hop = new Hop(config, [source, mqtt]);
    await hop.start();
    // Warm up: the first points, births and the JSON snapshot.
    await source.run(points, 0);
    if (!outage) await waitFor("warm-up", () => carried(obs!) >= points || undefined, 30_000);
    const base = outage ? 0 : carried(obs!);
    if (outage) {
      await source.run(updates, 1e6);
      await broker.start();
      obs = await Observer.connect(setup.plainPort, topics);
      const t0 = performance.now();
      await waitFor("drain", () => carried(obs!, true) >= updates || undefined, 120_000);
      const s = (performance.now() - t0) / 1000;
      console.log(
        `${label}: ${updates} buffered updates drained in ${s.toFixed(2)} s = ${
          Math.round(updates / s)
        } updates/s (from broker start)`,
      );
      return;
    }
    const t0 = performance.now();
    const last = await source.run(updates, 1e6);
    const key = (i: number) =>
      topics[0]!.startsWith("spBv1.0") ? `plant1:bench/p${i}` : `plant1/bench/p${i}`;
    await waitFor("every point's last value", () => {
      const seen = obs!.latestValues();
      for (let i = 0; i < points; i++) if (seen.get(key(i)) !== last[i]) return undefined;
      return true;
    }, 120_000);
    const s = (performance.now() - t0) / 1000;
    const n = carried(obs!) - base;
    console.log(
      `${label}: ${updates} updates, last values at the broker after ${s.toFixed(2)} s = ${
        Math.round(updates / s)
      } updates/s; ${n} carried (${Math.round(n / s)}/s) in ${
        obs!.seen.length
      } messages, ${mqtt.stats().coalesced} coalesced`,
    );
  } finally {
    await hop?.stop();
    await obs?.close();
    await broker.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

await run("Sparkplug DDATA, QoS 1", {}, ["spBv1.0/#"]);
await run("JSON per point, QoS 1", { "mqtt-format": "json", "mqtt-prefix": "bench" }, ["bench/#"]);
await run("JSON per point, QoS 0", {
  "mqtt-format": "json",
  "mqtt-prefix": "bench",
  "mqtt-qos": 0,
}, ["bench/#"]);
await run("JSON batches (128 KB), QoS 1", {
  "mqtt-format": "json",
  "mqtt-prefix": "bench",
  "mqtt-batch": true,
  "mqtt-max-payload": 131072,
}, ["bench/#"]);
await run("Store-and-forward drain, Sparkplug", {}, ["spBv1.0/#"], true);
Deno.exit(0);
