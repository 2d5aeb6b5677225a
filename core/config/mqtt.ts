/** Options of the MQTT bridge to cloud brokers. */
import { z } from "zod";
import { byteSize, duration, filePath, flag, int, option, url } from "./_option.ts";

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
  mqttMaxPayload: option(int(0).default(0), {
    group: "MQTT",
    arg: "<bytes>",
    help: "Split messages to stay under this size; 0 means the preset's limit or none",
  }),
};
