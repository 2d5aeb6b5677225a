/** Options of the MQTT bridge to cloud brokers. */
import { z } from "zod";
import {
  byteSize,
  duration,
  filePath,
  flag,
  int,
  option,
  type OptionValues,
  url,
} from "../../core/mod.ts";

/** The MQTT bridge's options: broker, session, format, topics, buffering. */
export const mqttOptions = {
  mqtt: option(url(["mqtts", "mqtt"], "mqtts://broker.example:8883").optional(), {
    group: "MQTT",
    arg: "<mqtts://host:port>",
    help: "Publish the data set to this broker (mqtt:// needs --mqtt-allow-plaintext)",
  }),
  mqttAllowPlaintext: option(flag(), {
    group: "MQTT",
    help: "Allow an unencrypted mqtt:// broker URL",
  }),
  mqttClientId: option(z.string().min(1).optional(), {
    group: "MQTT",
    arg: "<id>",
    help: "MQTT client id",
    defaultText: "hopgate-<name>",
  }),
  mqttUsername: option(z.string().min(1).optional(), {
    group: "MQTT",
    arg: "<user>",
    help: "MQTT user name",
  }),
  mqttPasswordFile: option(filePath().optional(), {
    path: true,
    group: "MQTT",
    arg: "<file>",
    help: "File holding the MQTT password",
  }),
  mqttPasswordEnv: option(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(), {
    group: "MQTT",
    arg: "<VAR>",
    help: "Environment variable holding the MQTT password",
  }),
  mqttCa: option(filePath().optional(), {
    path: true,
    group: "MQTT",
    arg: "<file>",
    help: "CA certificate (PEM) the broker's certificate must chain to",
  }),
  mqttCert: option(filePath().optional(), {
    path: true,
    group: "MQTT",
    arg: "<file>",
    help: "Client certificate (PEM) for brokers that require one",
  }),
  mqttKey: option(filePath().optional(), {
    path: true,
    group: "MQTT",
    arg: "<file>",
    help: "Private key (PEM) of the client certificate",
  }),
  mqttVersion: option(z.enum(["3.1.1", "5"]).default("5"), {
    group: "MQTT",
    arg: "<3.1.1|5>",
    help: "MQTT protocol version",
  }),
  mqttFormat: option(z.enum(["sparkplug", "json"]).default("sparkplug"), {
    group: "MQTT",
    arg: "<sparkplug|json>",
    help: "Payload format: Sparkplug B 3.0, or one JSON message per point",
  }),
  mqttGroup: option(z.string().regex(/^[^/+#]+$/).default("hopgate"), {
    group: "MQTT",
    arg: "<group>",
    help: "Sparkplug group id",
  }),
  mqttEdgeNode: option(z.string().regex(/^[^/+#]+$/).optional(), {
    group: "MQTT",
    arg: "<node>",
    help: "Sparkplug edge node id",
    defaultText: "<name>",
  }),
  mqttPrimaryHost: option(z.string().regex(/^[^/+#]+$/).optional(), {
    group: "MQTT",
    arg: "<host id>",
    help: "Sparkplug primary host whose STATE gates publishing",
  }),
  mqttPrefix: option(z.string().min(1).default("hopgate"), {
    group: "MQTT",
    arg: "<topic>",
    help: "Topic prefix of JSON messages: <prefix>/<point id>",
  }),
  mqttPreset: option(z.enum(["aws-iot", "azure-iot-hub"]).optional(), {
    group: "MQTT",
    arg: "<aws-iot|azure-iot-hub>",
    help: "Defaults and checks for a cloud's MQTT service",
  }),
  mqttQos: option(z.coerce.number().pipe(z.union([z.literal(0), z.literal(1)])).default(1), {
    group: "MQTT",
    arg: "<0|1>",
    help: "QoS of published messages",
  }),
  mqttBufferSize: option(byteSize().default(64 * 1024 * 1024), {
    group: "MQTT",
    arg: "<size>",
    help: "Largest on-disk store-and-forward buffer while the broker is unreachable",
  }),
  mqttBufferAge: option(duration().default(24 * 3_600_000), {
    group: "MQTT",
    arg: "<duration>",
    help: "Oldest buffered update kept while the broker is unreachable",
  }),
  mqttBatch: option(flag(), {
    group: "MQTT",
    help:
      "JSON format: send batches (arrays of point messages) to <prefix>/<name>/batch instead of one retained message per point",
  }),
  mqttMaxPayload: option(int(0).default(0), {
    group: "MQTT",
    arg: "<bytes>",
    help: "Split messages to stay under this size; 0 means the preset's limit or none",
  }),
};

/** The broker's `host:port`: the URL's port, or MQTT's default for its scheme (8883 over TLS). */
export function mqttBrokerAddress(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === "mqtts:" ? "8883" : "1883")}`;
}

/** What a cloud's MQTT service requires; checked at configuration time. */
export interface MqttPreset {
  /** Largest message the service accepts, in bytes. */
  maxPayload: number;
  /** The service does not keep retained messages. */
  noRetain: boolean;
  /** A fixed topic all messages go to (JSON batches), with `{clientId}` filled in. */
  topic?: string;
}

/** The presets of `--mqtt-preset`. */
export const mqttPresets: Record<"aws-iot" | "azure-iot-hub", MqttPreset> = {
  "aws-iot": { maxPayload: 128 * 1024, noRetain: true },
  "azure-iot-hub": {
    maxPayload: 256 * 1024,
    noRetain: true,
    topic: "devices/{clientId}/messages/events/",
  },
};

/** The MQTT settings that follow from the options and the preset together. */
export interface MqttEffective {
  /** Largest message sent, in bytes (0: no limit). */
  maxPayload: number;
  /** Whether messages are published retained (not where the service keeps none). */
  retain: boolean;
  /** Whether JSON updates go in batches to one topic (a preset's fixed topic). */
  batch: boolean;
  /** Topic of JSON batches. */
  batchTopic: string;
  /** The user name to connect with, derived for a preset when not given. */
  username: string | undefined;
}

/** The settings {@link mqttEffective} and the preset's checks read: a hop's configuration has them. */
export type MqttFields =
  & { name: string }
  & Pick<
    MqttConfig,
    | "mqtt"
    | "mqttPreset"
    | "mqttMaxPayload"
    | "mqttBatch"
    | "mqttPrefix"
    | "mqttClientId"
    | "mqttUsername"
    | "mqttFormat"
    | "mqttVersion"
    | "mqttPasswordFile"
    | "mqttPasswordEnv"
    | "mqttCert"
    | "mqttKey"
  >;

/** Effective settings: the preset's limits, unless a smaller --mqtt-max-payload is given. */
export function mqttEffective(c: MqttFields): MqttEffective {
  const preset = c.mqttPreset ? mqttPresets[c.mqttPreset] : undefined;
  const limit = preset?.maxPayload ?? 0;
  const maxPayload = c.mqttMaxPayload > 0 && (limit === 0 || c.mqttMaxPayload < limit)
    ? c.mqttMaxPayload
    : limit;
  const azure = c.mqttPreset === "azure-iot-hub";
  return {
    maxPayload,
    retain: !preset?.noRetain,
    batch: c.mqttBatch || preset?.topic !== undefined,
    batchTopic: preset?.topic?.replace("{clientId}", c.mqttClientId) ??
      `${c.mqttPrefix}/${c.name}/batch`,
    username: c.mqttUsername ??
      (azure && c.mqtt
        ? `${c.mqtt.hostname}/${c.mqttClientId}/?api-version=2021-04-12`
        : undefined),
  };
}

/**
 * Defaults a preset changes (Azure IoT Hub speaks MQTT 3.1.1 and takes JSON
 * only), applied to options the user did not set. `given` holds the keys set.
 */
export function mqttPresetDefaults<T extends MqttFields>(c: T, given: ReadonlySet<string>): T {
  if (c.mqttPreset !== "azure-iot-hub") return c;
  return {
    ...c,
    ...(given.has("mqttFormat") ? {} : { mqttFormat: "json" as const }),
    ...(given.has("mqttVersion") ? {} : { mqttVersion: "3.1.1" as const }),
  };
}

/** The preset's requirements and the MQTT rules between options, as messages saying what to do. */
export function mqttChecks(c: MqttFields, given: ReadonlySet<string>): string[] {
  const out: string[] = [];
  if (!c.mqtt) return out;
  if (c.mqttPasswordFile && c.mqttPasswordEnv) {
    out.push("--mqtt-password-file and --mqtt-password-env are alternatives; pass one");
  }
  if ((c.mqttPasswordFile || c.mqttPasswordEnv) && !c.mqttUsername && !c.mqttPreset) {
    out.push("An MQTT password needs --mqtt-username");
  }
  const preset = c.mqttPreset;
  if (!preset) return out;
  const name = `--mqtt-preset ${preset}`;
  if (c.mqtt.protocol !== "mqtts:") out.push(`${name} needs an mqtts:// broker URL`);
  if (c.mqtt.port !== "" && c.mqtt.port !== "8883") {
    out.push(`${name} needs port 8883 (got ${c.mqtt.port}); use mqtts://<endpoint>:8883`);
  }
  const limit = mqttPresets[preset].maxPayload;
  if (c.mqttMaxPayload > limit) {
    out.push(`--mqtt-max-payload ${c.mqttMaxPayload} is above ${name}'s limit of ${limit} bytes`);
  }
  if (preset === "aws-iot" && (!c.mqttCert || !c.mqttKey)) {
    out.push(
      `${name} authenticates by X.509 client certificate: pass --mqtt-cert and --mqtt-key (the certificate registered with AWS IoT)`,
    );
  }
  if (preset === "azure-iot-hub") {
    if (!given.has("mqttClientId")) {
      out.push(`${name} needs --mqtt-client-id <device id> (the device's id in the IoT hub)`);
    }
    if (c.mqttFormat !== "json") {
      out.push(`${name} takes only JSON on its fixed events topic: use --mqtt-format json`);
    }
    if (c.mqttVersion !== "3.1.1") out.push(`${name} speaks MQTT 3.1.1: use --mqtt-version 3.1.1`);
    const hasSas = !!(c.mqttPasswordFile || c.mqttPasswordEnv);
    const hasCert = !!(c.mqttCert && c.mqttKey);
    if (!hasSas && !hasCert) {
      out.push(
        `${name} needs a SAS token (--mqtt-password-file or --mqtt-password-env) or an X.509 certificate (--mqtt-cert and --mqtt-key)`,
      );
    }
    const want = `${c.mqtt.hostname}/${c.mqttClientId}/?api-version=2021-04-12`;
    if (c.mqttUsername && c.mqttUsername !== want) {
      out.push(`${name} needs --mqtt-username "${want}" (or leave it out to have it derived)`);
    }
  }
  return out;
}

/** The MQTT settings, with the edge node and client id resolved. */
export type MqttConfig = Omit<OptionValues<typeof mqttOptions>, "mqttEdgeNode" | "mqttClientId"> & {
  mqttEdgeNode: string;
  mqttClientId: string;
};

declare module "../../core/config/mod.ts" {
  /** The MQTT bridge's settings are part of every hop's configuration. */
  interface HopConfig extends MqttConfig {}
}
