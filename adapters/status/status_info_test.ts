import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { type HeldCertificate, initCa, issueHopCert } from "../../core/mod.ts";
import { flagsConfig, tempDir } from "../../tests/kit/helpers.ts";
import { certificates, configSummary } from "./status_info.ts";

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

Deno.test("the page's certificates: those the watches hold as they are now, other files read with the same reader", async () => {
  await using dir = await tempDir();
  const caDir = join(dir.path, "ca");
  await initCa(caDir);
  const user = await issueHopCert("operator", { caDir, outDir: join(dir.path, "user") });
  await Deno.writeTextFile(join(dir.path, "broken.crt"), "-----BEGIN CERTIFICATE-----\nMII");
  const { config } = flagsConfig(dir.path, [
    "--name",
    "p",
    "--data-dir",
    join(dir.path, "p"),
    "--opcua",
    "opc.tcp://127.0.0.1:4840",
    "--opcua-user-cert",
    user.cert,
    "--opcua-user-key",
    user.key,
    "--mqtt",
    "mqtts://broker.example:8883",
    "--mqtt-ca",
    join(dir.path, "broken.crt"),
  ]);
  const held: HeldCertificate = {
    name: "tls",
    flag: "--tls-cert",
    path: "/etc/hopgate/p.crt",
    subject: "CN=p",
    issuer: "CN=hopgate CA",
    serial: "0A",
    notBefore: new Date(1_000),
    notAfter: new Date(2_000),
  };
  const { certs, errors } = await certificates(config, [held]);
  assertEquals(certs[0], {
    option: "tls-cert",
    name: "tls",
    path: "/etc/hopgate/p.crt",
    subject: "CN=p",
    issuer: "CN=hopgate CA",
    serial: "0A",
    notBefore: 1_000,
    notAfter: 2_000,
  });
  // --opcua-user-cert has no watch: read from its file, without an expiry point name.
  const own = certs.filter((c) => c.option === "opcua-user-cert");
  assertEquals(own.map((c) => [c.name, c.subject, c.serial]), [[
    undefined,
    "CN=operator",
    new X509Certificate(await Deno.readTextFile(user.cert)).serialNumber,
  ]]);
  // The held --tls-cert is not read again from the configured (default) path.
  assertEquals(certs.filter((c) => c.option === "tls-cert").length, 1);
  assertEquals(errors.length, 1, errors.join("\n"));
  assert(
    /^--mqtt-ca ".*broken\.crt" holds no complete PEM certificate/.test(errors[0]!),
    String(errors[0]),
  );
});
