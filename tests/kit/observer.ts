/**
 * An independent MQTT subscriber in the test process (mqtt.js and the Tahu
 * schema decoder) that records every message it sees, decoded.
 */
import mqtt, { type MqttClient } from "mqtt";
import { decodePayload, type InPayload } from "../../adapters/mqtt/sparkplug_codec.ts";
import { waitFor } from "./helpers.ts";
import { Mosquitto, setupBroker } from "./mosquitto.ts";

/** One received message. */
export interface Seen {
  topic: string;
  raw: Uint8Array;
  retain: boolean;
  /** Decoded Sparkplug payload (spBv1.0 topics other than STATE). */
  sp?: InPayload;
  /** Parsed JSON payload (other topics). */
  json?: unknown;
}

/** A recording subscriber. */
export class Observer {
  readonly seen: Seen[] = [];
  #client: MqttClient;

  private constructor(client: MqttClient) {
    this.#client = client;
    client.on("message", (topic, payload, packet) => {
      const raw = new Uint8Array(payload);
      const s: Seen = { topic, raw, retain: packet.retain };
      if (topic.startsWith("spBv1.0/") && !topic.startsWith("spBv1.0/STATE/")) {
        try {
          s.sp = decodePayload(raw);
        } catch { /* not a Sparkplug payload: kept raw */ }
      } else {
        try {
          s.json = JSON.parse(new TextDecoder().decode(raw));
        } catch { /* not JSON */ }
      }
      this.seen.push(s);
    });
  }

  /** Connects to the plain listener and subscribes. */
  static async connect(port: number, topics: string[]): Promise<Observer> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    const o = new Observer(client);
    await client.subscribeAsync(topics, { qos: 1 });
    return o;
  }

  /** Publishes (commands). */
  async publish(topic: string, payload: Uint8Array | string): Promise<void> {
    await this.#client.publishAsync(
      topic,
      typeof payload === "string" ? payload : payload as never,
      {
        qos: 1,
      },
    );
  }

  /** Publishes a retained message (a primary host's STATE). */
  async publishRetained(topic: string, payload: string): Promise<void> {
    await this.#client.publishAsync(topic, payload, { qos: 1, retain: true });
  }

  /** Waits for a message matching `match` at or after index `from`; returns its index. */
  waitFor(what: string, match: (s: Seen) => boolean, from = 0, ms = 15_000): Promise<number> {
    return waitFor(what, () => {
      for (let i = from; i < this.seen.length; i++) if (match(this.seen[i]!)) return i;
      return undefined;
    }, ms);
  }

  /**
   * The latest value seen of each metric or point, by name: Sparkplug metric
   * names per device (`<device>/<metric>`, DDATA aliases resolved through the
   * births), JSON points by id (per-point messages and batches).
   */
  latestValues(): Map<string, unknown> {
    const out = new Map<string, unknown>();
    const names = new Map<string, string>();
    for (const s of this.seen) {
      if (s.sp) {
        const [, , kind, , device] = s.topic.split("/");
        for (const m of s.sp.metrics) {
          const key = `${device}/${m.alias}`;
          if (kind === "DBIRTH" && m.name !== undefined) names.set(key, `${device}/${m.name}`);
          const name = m.name !== undefined ? `${device}/${m.name}` : names.get(key);
          if (name !== undefined && (kind === "DBIRTH" || kind === "DDATA")) {
            out.set(name, m.isNull ? null : m.raw);
          }
        }
      } else if (s.json !== undefined) {
        for (const j of Array.isArray(s.json) ? s.json : [s.json]) {
          const p = j as { id?: unknown; value?: unknown };
          if (typeof p.id === "string") out.set(p.id, p.value);
        }
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#client.endAsync(true).catch(() => {});
  }
}

/**
 * A test broker (tests/_mosquitto.ts) started in `dir` with an observer
 * subscribed to `topics`; `await using` closes the observer and stops the broker.
 */
export async function observedBroker(dir: string, topics: string[]) {
  const setup = await setupBroker(dir);
  const broker = new Mosquitto(setup);
  await broker.start();
  let obs: Observer;
  try {
    obs = await Observer.connect(setup.plainPort, topics);
  } catch (e) {
    await broker.stop();
    throw e;
  }
  return {
    setup,
    broker,
    obs,
    async [Symbol.asyncDispose]() {
      await obs.close();
      await broker.stop();
    },
  };
}
