import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert";
import "../all.ts";
import { ConfigError, resolveConfig } from "../../core/mod.ts";
import { mqttEffective } from "./options.ts";

function config(values: Record<string, unknown>) {
  return resolveConfig([{
    label: null,
    baseDir: "/tmp",
    values: { name: "it", sim: 1, "data-dir": "/tmp/hopgate-mqtt-config-test", ...values },
  }]);
}

function problems(values: Record<string, unknown>): string[] {
  try {
    config(values);
  } catch (e) {
    assert(e instanceof ConfigError, String(e));
    return e.problems;
  }
  return [];
}

Deno.test("the aws-iot preset needs a client certificate on port 8883 and caps payloads at 128 KB", () => {
  const p = problems({
    mqtt: "mqtts://x.iot.eu-west-1.amazonaws.com:1883",
    "mqtt-preset": "aws-iot",
  });
  assert(p.some((m) => /needs port 8883/.test(m)), p.join("\n"));
  assert(p.some((m) => /pass --mqtt-cert and --mqtt-key/.test(m)), p.join("\n"));
  const big = problems({
    mqtt: "mqtts://x:8883",
    "mqtt-preset": "aws-iot",
    "mqtt-max-payload": 200_000,
  });
  assert(big.some((m) => /above --mqtt-preset aws-iot's limit of 131072/.test(m)), big.join("\n"));
});

Deno.test("the azure-iot-hub preset needs a device id and credentials, and derives JSON, 3.1.1 and the user name", () => {
  const p = problems({
    mqtt: "mqtts://hub.azure-devices.net:8883",
    "mqtt-preset": "azure-iot-hub",
  });
  assert(p.some((m) => /--mqtt-client-id <device id>/.test(m)), p.join("\n"));
  assert(p.some((m) => /SAS token/.test(m)), p.join("\n"));
  const sp = problems({
    mqtt: "mqtts://hub.azure-devices.net:8883",
    "mqtt-preset": "azure-iot-hub",
    "mqtt-format": "sparkplug",
    "mqtt-client-id": "dev1",
    "mqtt-password-env": "SAS",
  });
  assertEquals(sp, [
    "--mqtt-preset azure-iot-hub takes only JSON on its fixed events topic: use --mqtt-format json",
  ]);
  const c = config({
    mqtt: "mqtts://hub.azure-devices.net:8883",
    "mqtt-preset": "azure-iot-hub",
    "mqtt-client-id": "dev1",
    "mqtt-password-env": "SAS",
  });
  assertEquals([c.mqttFormat, c.mqttVersion], ["json", "3.1.1"]);
  assertEquals(mqttEffective(c), {
    maxPayload: 256 * 1024,
    retain: false,
    batch: true,
    batchTopic: "devices/dev1/messages/events/",
    username: "hub.azure-devices.net/dev1/?api-version=2021-04-12",
  });
});

Deno.test("without a preset, --mqtt-max-payload alone limits messages and a password needs a user", () => {
  const c = config({ mqtt: "mqtts://b:8883", "mqtt-max-payload": 1000 });
  assertEquals(mqttEffective(c).maxPayload, 1000);
  assertEquals(mqttEffective(c).retain, true);
  const p = problems({ mqtt: "mqtts://b:8883", "mqtt-password-env": "PW" });
  assertEquals(p, ["An MQTT password needs --mqtt-username"]);
  throws(() => config({ mqtt: "mqtts://b:8883", "mqtt-version": "4" }), ConfigError);
});
