import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import { readCertificate } from "node-opcua-crypto";
import { certificateMismatch, ensureApplicationCertificate } from "./opcua_certificate.ts";
import { giveOpenSslConfAValue } from "./opcua_log.ts";
import { applicationNames } from "./opcua_names.ts";

Deno.test("a hop's certificate names are its own: URI, subject, host names and listen addresses", () => {
  assertEquals(applicationNames("plant1", { hostname: "edge7" }), {
    applicationUri: "urn:edge7:hopgate:plant1",
    applicationName: "hopgate plant1",
    subject: "/CN=hopgate plant1/O=hopgate",
    dns: ["edge7"],
    ips: [],
  });
  const at = (host: string) =>
    applicationNames("it", {
      hostname: "edge7",
      listen: { host, port: 4840 },
      interfaces: () => ["10.2.0.9", "fe80::1"],
    });
  assertEquals([at("10.2.0.9").dns, at("10.2.0.9").ips], [["edge7"], ["10.2.0.9"]]);
  assertEquals([at("opc.plant.example").dns, at("opc.plant.example").ips], [
    ["edge7", "opc.plant.example"],
    [],
  ]);
  // Listening on every interface: every interface address.
  assertEquals(at("0.0.0.0").ips, ["10.2.0.9", "fe80::1"]);
});

Deno.test("the certificate is made once, kept while its names fit, and made again with the reason when they change", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hopgate-opcua-cert-" });
  const manager = new OPCUACertificateManager({
    rootFolder: dir,
    automaticallyAcceptUnknownCertificate: false,
    disableFileWatchers: true,
  });
  const lines: { level: string; message: string; properties: Record<string, unknown> }[] = [];
  const log = {
    info: (message: string, properties: Record<string, unknown>) =>
      lines.push({ level: "info", message, properties }),
    warn: (message: string, properties: Record<string, unknown>) =>
      lines.push({ level: "warn", message, properties }),
  };
  try {
    giveOpenSslConfAValue(); // as a hop does before its manager reads the key
    await manager.initialize();
    const file = join(dir, "own", "certs", "certificate.pem");
    const first = applicationNames("it", {
      hostname: "edge7",
      listen: { host: "127.0.0.1", port: 4840 },
    });
    const role = "server" as const;
    assertEquals(
      await ensureApplicationCertificate(manager, file, { names: first, log, role }),
      "made",
    );
    assertEquals(certificateMismatch(readCertificate(file), first), []);
    assertEquals(
      await ensureApplicationCertificate(manager, file, { names: first, log, role }),
      "kept",
    );
    assertEquals(lines.length, 1, "kept says nothing");

    // The hop now listens elsewhere and is named otherwise: the certificate follows, saying why.
    const moved = applicationNames("it2", {
      hostname: "edge7",
      listen: { host: "127.0.0.2", port: 4840 },
    });
    assertEquals(certificateMismatch(readCertificate(file), moved), [
      'its subject names "hopgate it", not "hopgate it2"',
      "it lacks the application URI urn:edge7:hopgate:it2",
      "it lacks the address(es) 127.0.0.2",
    ]);
    assertEquals(
      await ensureApplicationCertificate(manager, file, { names: moved, log, role }),
      "replaced",
    );
    const replaced = lines.at(-1)!;
    assertEquals(replaced.level, "warn");
    assert(String(replaced.properties.why).includes("it lacks the address(es) 127.0.0.2"));
    assertEquals(certificateMismatch(readCertificate(file), moved), []);
  } finally {
    await manager.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
