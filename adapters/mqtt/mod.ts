/**
 * The MQTT bridge adapter (Sparkplug B 3.0 or JSON, store-and-forward,
 * commands). This face is light: mqtt.js and protobufjs (about 40 MB and
 * 160 ms together) load only when a hop with `--mqtt` starts the adapter.
 *
 * @example A broker URL without a port is granted MQTT over TLS's 8883; a preset sets the limits
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import "../all.ts";
 * import { resolveConfig } from "../../core/mod.ts";
 * import { mqttEffective, mqttPlugin } from "./mod.ts";
 *
 * const config = resolveConfig([{
 *   label: null,
 *   baseDir: "/tmp",
 *   values: {
 *     name: "dmz",
 *     sim: 1,
 *     mqtt: "mqtts://broker.example.com",
 *     "data-dir": "/tmp/hopgate-example", // named, never created
 *   },
 * }]);
 * assertEquals(mqttPlugin.permissions(config, { embedded: true }).net, ["broker.example.com:8883"]);
 * assertEquals(config.mqttClientId, "hopgate-dmz");
 * assertEquals(mqttEffective(config).retain, true);
 *
 * // AWS IoT caps messages at 128 KB and keeps no retained messages.
 * const aws = mqttEffective({ ...config, mqttPreset: "aws-iot" });
 * assertEquals([aws.maxPayload, aws.retain], [128 * 1024, false]);
 * ```
 *
 * @module
 */
import {
  type Adapter,
  CertWatch,
  type HopConfig,
  LazyAdapter,
  type PermissionNeeds,
  type Plugin,
} from "../../core/mod.ts";
import type { MqttBridge, MqttStats } from "./mqtt_bridge.ts";
import { mqttBrokerAddress, mqttChecks, mqttOptions, mqttPresetDefaults } from "./options.ts";

/** The `mqtt` sink adapter: the bridge, loaded when the hop starts it. */
export class MqttAdapter extends LazyAdapter<MqttBridge> {
  /** `certs`: the bridge's CA and client certificate, kept current (absent: read once). */
  constructor(certs?: CertWatch) {
    super("mqtt", "mqtt", async () => {
      const { MqttBridge } = await import("./mqtt_bridge.ts");
      return new MqttBridge("mqtt", certs);
    });
  }

  /** The bridge's counters (zero before it starts). */
  stats(): MqttStats {
    return this.loaded?.stats() ??
      { sent: 0, drained: 0, spilled: 0, coalesced: 0, buffered: 0, dropped: 0 };
  }
}

/**
 * The bridge's TLS files (`certs:mqtt`): --mqtt-ca, --mqtt-cert and
 * --mqtt-key, reloaded when they change or on SIGHUP for the next connection
 * to the broker. The client certificate need not come from --mqtt-ca (a
 * cloud's broker and device certificates often have different CAs).
 */
export function mqttCerts(c: HopConfig): CertWatch | null {
  if (!c.mqttCa && !c.mqttCert && !c.mqttKey) return null;
  return new CertWatch("mqtt", {
    ...(c.mqttCert ? { cert: { path: c.mqttCert, flag: "--mqtt-cert" } } : {}),
    ...(c.mqttKey ? { key: { path: c.mqttKey, flag: "--mqtt-key" } } : {}),
    ...(c.mqttCa ? { ca: { path: c.mqttCa, flag: "--mqtt-ca" } } : {}),
    expiry: { cert: "mqtt", ca: "mqtt-ca" },
  }, {
    interval: c.certCheck,
    hints: {
      cert: "replace --mqtt-cert and --mqtt-key (the hop reloads them without a restart)",
      ca: "replace --mqtt-ca with the broker's new CA (reloaded without a restart)",
    },
  });
}

/** The MQTT adapter the configuration asks for, if any, after the watch of its TLS files. */
export function mqttAdapters(config: HopConfig): Adapter[] {
  if (!config.mqtt) return [];
  const certs = mqttCerts(config);
  return certs ? [certs, new MqttAdapter(certs)] : [new MqttAdapter()];
}

/**
 * mqtt.js imports `debug`, which enumerates the environment when loaded; these
 * reads (DEBUG and friends, plus the proxy and ws probes) return undefined
 * instead of failing.
 */
export const mqttLibraryNeeds: PermissionNeeds = {
  ignoreEnv: ["DEBUG", "READABLE_STREAM", "MQTTJS_SOCKS_PROXY", "WS_NO_BUFFER_UTIL"],
};

/** The MQTT plugin: the bridge to a cloud broker (adapters/all.ts registers it). */
export const mqttPlugin: Plugin = {
  name: "mqtt",
  options: mqttOptions,
  activatedBy: "",
  active: (c) => c.mqtt !== undefined,
  defaults(c, given) {
    c.mqttEdgeNode ??= c.name;
    c.mqttClientId ??= `hopgate-${c.name}`;
    Object.assign(c, mqttPresetDefaults(c, given));
  },
  checks(c, given) {
    const out: string[] = [];
    if (c.mqtt?.protocol === "mqtt:" && !c.mqttAllowPlaintext) {
      out.push(
        `--mqtt "${c.mqtt.href}" is unencrypted; use mqtts:// or pass --mqtt-allow-plaintext`,
      );
    }
    if (!!c.mqttCert !== !!c.mqttKey) {
      out.push("--mqtt-cert and --mqtt-key go together; pass both or neither");
    }
    return [...out, ...mqttChecks(c, given)];
  },
  files(c) {
    const keys = ["mqttPasswordFile", "mqttCa", "mqttCert", "mqttKey"] as const;
    return keys.filter((k) => c[k] !== undefined).map((k) => [k, "or fix the path"]);
  },
  permissions(c) {
    if (!c.mqtt) return {};
    const read = [c.mqttPasswordFile, c.mqttCa, c.mqttCert, c.mqttKey].filter((f) =>
      f !== undefined
    );
    return {
      ...mqttLibraryNeeds,
      net: [mqttBrokerAddress(c.mqtt)],
      read,
      env: c.mqttPasswordEnv ? [c.mqttPasswordEnv] : [],
    };
  },
  adapters: mqttAdapters,
};

export {
  type MqttConfig,
  type MqttEffective,
  mqttEffective,
  type MqttFields,
  mqttOptions,
  type MqttPreset,
  mqttPresets,
} from "./options.ts";
// Types only: the bridge's code loads when the adapter starts, not with this module.
export type { MqttBridge, MqttStats } from "./mqtt_bridge.ts";
