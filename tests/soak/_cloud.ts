/**
 * The cloud's view for the soak: a Sparkplug B subscriber that folds births,
 * data and deaths into each device's current metrics as they arrive, keeping
 * no history (a long soak sees millions of messages).
 */
import { Buffer } from "node:buffer";
import mqtt, { type MqttClient } from "mqtt";
import {
  decodePayload,
  encodePayload,
  hopgateType,
  metricValue,
} from "../../adapters/mqtt/sparkplug_codec.ts";
import type { Value } from "../../core/mod.ts";

/** One metric as the cloud last saw it; `quality` 192 good, 64 uncertain, 0 bad. */
export interface CloudMetric {
  value: Value;
  quality: number;
}

/** One Sparkplug device (`<origin>:<source>`) of edge node `it`. */
export interface CloudDevice {
  alive: boolean;
  births: number;
  metrics: Map<string, CloudMetric>;
  byAlias: Map<bigint, string>;
  types: Map<string, ReturnType<typeof hopgateType>>;
}

/** Folds the Sparkplug messages of edge node `it` into device state. */
export class Cloud {
  readonly devices = new Map<string, CloudDevice>();
  messages = 0;
  /** Births of the edge node (NBIRTH), by the time seen. */
  nodeBirths: number[] = [];
  #client: MqttClient;

  private constructor(client: MqttClient) {
    this.#client = client;
    client.on("message", (topic, payload) => {
      this.messages++;
      const [, , kind, node, device] = topic.split("/");
      if (node !== "it") return;
      if (kind === "NBIRTH") this.nodeBirths.push(Date.now());
      if (kind === "NDEATH") {
        for (const d of this.devices.values()) d.alive = false;
        return;
      }
      if (device === undefined || !kind?.startsWith("D")) return;
      let sp;
      try {
        sp = decodePayload(new Uint8Array(payload));
      } catch {
        return;
      }
      const d = this.devices.get(device) ?? {
        alive: false,
        births: 0,
        metrics: new Map(),
        byAlias: new Map(),
        types: new Map(),
      };
      this.devices.set(device, d);
      if (kind === "DBIRTH") {
        d.alive = true;
        d.births++;
        d.metrics.clear();
        d.byAlias.clear();
        for (const m of sp.metrics) {
          const type = hopgateType(m.datatype!);
          d.byAlias.set(m.alias!, m.name!);
          d.types.set(m.name!, type);
          d.metrics.set(m.name!, { value: metricValue(m, type), quality: quality(m.properties) });
        }
      } else if (kind === "DDATA") {
        for (const m of sp.metrics) {
          const name = d.byAlias.get(m.alias!);
          if (name === undefined) continue;
          const type = d.types.get(name);
          d.metrics.set(name, { value: metricValue(m, type), quality: quality(m.properties) });
        }
      } else if (kind === "DDEATH") {
        d.alive = false;
      }
    });
  }

  /**
   * Subscribes to every Sparkplug message of group `hopgate` on the broker's
   * plain port. After the broker restarts, the edge node may have been born
   * again before this subscriber was back: it then asks for a rebirth, as a
   * Sparkplug host application does.
   */
  static async connect(port: number): Promise<Cloud> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      reconnectPeriod: 500,
      connectTimeout: 5000,
    });
    const c = new Cloud(client);
    await client.subscribeAsync([topics], { qos: 1 });
    client.on("connect", () => {
      void (async () => {
        await client.subscribeAsync([topics], { qos: 1 });
        await client.publishAsync(
          "spBv1.0/hopgate/NCMD/it",
          Buffer.from(encodePayload({
            timestamp: Date.now(),
            metrics: [{ name: "Node Control/Rebirth", type: "Boolean", value: true }],
          })),
          { qos: 1 },
        );
      })().catch(() => {});
    });
    return c;
  }

  async close(): Promise<void> {
    await this.#client.endAsync(true).catch(() => {});
  }
}

const topics = "spBv1.0/hopgate/#";

function quality(props: Record<string, unknown>): number {
  return typeof props.Quality === "number" ? props.Quality : 192;
}
