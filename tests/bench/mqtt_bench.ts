/**
 * MQTT bridge throughput into a local mosquitto (plain TCP, set_tcp_nodelay,
 * QoS 1): metric updates per second as Sparkplug DDATA, as JSON messages per
 * point and as JSON batches, and how fast the store-and-forward buffer drains
 * after an outage. The subscriber decodes every message in the same process,
 * so the figures are a floor on this 2-core machine.
 *
 *   deno run -A tests/bench/mqtt_bench.ts [updates=200000]
 */
import { MqttAdapter } from "../../adapters/mqtt/mod.ts";
import {
  type Adapter,
  type AdapterStatus,
  type HopContext,
  resolveConfig,
  Status,
  StatusTracker,
  systemClock,
} from "../../core/mod.ts";
import { Hop } from "../../core/hop.ts";
import { waitFor } from "../_helpers.ts";
import { Mosquitto, setupBroker } from "../_mosquitto.ts";
import { Observer } from "../_observer.ts";

const updates = Number(Deno.args[0] ?? 200_000);
const points = 1000;

class BenchSource implements Adapter {
  readonly name = "bench";
  readonly kind = "bench";
  ctx: HopContext | null = null;
  #status = new StatusTracker(this.name, this.kind, systemClock);
  start(ctx: HopContext) {
    this.ctx = ctx;
    return Promise.resolve();
  }
  stop() {
    return Promise.resolve();
  }
  status(): AdapterStatus {
    return this.#status.get();
  }
  /** Applies `n` updates in slices, yielding so the bridge can publish meanwhile. */
  async run(n: number, from: number) {
    for (let k = 0; k < n; k += 5000) {
      const now = Date.now();
      for (let j = k; j < Math.min(n, k + 5000); j++) {
        this.ctx!.store.apply({
          id: `plant1/bench/p${j % points}`,
          value: from + j,
          type: "Double",
          status: Status.Good,
          time: now,
          hops: [],
          cause: null,
        }, this.name);
      }
      await new Promise((r) => setTimeout(r, 0));
    }
  }
}

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
    const source = new BenchSource();
    if (!outage) await broker.start();
    obs = outage ? null : await Observer.connect(setup.plainPort, topics);
    hop = new Hop(config, [source, new MqttAdapter()]);
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
    await source.run(updates, 1e6);
    await waitFor("all updates", () => carried(obs!) - base >= updates || undefined, 120_000);
    const s = (performance.now() - t0) / 1000;
    console.log(
      `${label}: ${updates} updates in ${s.toFixed(2)} s = ${Math.round(updates / s)} updates/s (${
        obs!.seen.length
      } messages)`,
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
