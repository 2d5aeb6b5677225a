/**
 * The MQTT bridge adapter (Sparkplug B 3.0 or JSON, store-and-forward,
 * commands). This face is light: mqtt.js and protobufjs (about 40 MB and
 * 160 ms together) load only when a hop with `--mqtt` starts the adapter.
 */
import {
  type Adapter,
  type AdapterStatus,
  type HopConfig,
  type HopContext,
  StatusTracker,
  systemClock,
} from "../../core/mod.ts";
import type { MqttBridge, MqttStats } from "./mqtt_bridge.ts";

/** The `mqtt` sink adapter. */
export class MqttAdapter implements Adapter {
  readonly name = "mqtt";
  readonly kind = "mqtt";
  #status = new StatusTracker(this.name, this.kind, systemClock);
  #bridge: MqttBridge | null = null;

  async start(ctx: HopContext): Promise<void> {
    this.#status = new StatusTracker(this.name, this.kind, ctx.clock);
    const { MqttBridge } = await import("./mqtt_bridge.ts");
    this.#bridge = new MqttBridge(this.name, ctx, this.#status);
    await this.#bridge.start();
  }

  async stop(): Promise<void> {
    await this.#bridge?.stop();
  }

  status(): AdapterStatus {
    return this.#status.get();
  }

  /** The bridge's counters (zero before it starts). */
  stats(): MqttStats {
    return this.#bridge?.stats() ??
      { sent: 0, drained: 0, spilled: 0, coalesced: 0, buffered: 0, dropped: 0 };
  }
}

/** The MQTT adapter the configuration asks for, if any. */
export function mqttAdapters(config: HopConfig): Adapter[] {
  return config.mqtt ? [new MqttAdapter()] : [];
}
