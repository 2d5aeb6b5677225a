import { ok as assert } from "node:assert";
import { flagsConfig } from "../../tests/kit/helpers.ts";
import { configSummary } from "./status_info.ts";

Deno.test("the configuration summary shows what the hop uses and no secret", () => {
  const { config } = flagsConfig("/tmp", [
    "--name",
    "p",
    "--data-dir",
    "/tmp/p",
    "--sim",
    "5",
    "--mqtt",
    "mqtts://user:hunter2@broker.example:8883",
    "--mqtt-username",
    "u",
    "--mqtt-password-env",
    "MQTT_PASSWORD",
  ]);
  const summary = configSummary(config);
  const text = JSON.stringify(summary);
  assert(!text.includes("hunter2"), text);
  assert(text.includes('["mqtt","mqtts://***@broker.example:8883"]'), text);
  // Where the password comes from is named; the password is never read.
  assert(text.includes('["mqtt-password-env","MQTT_PASSWORD"]'), text);
  // The OPC UA adapter is not used: its defaults are left out.
  assert(!summary.some(([k]) => k.startsWith("opcua-")), text);
  assert(summary.some(([k, v]) => k === "sim" && v === "5"), text);
});
