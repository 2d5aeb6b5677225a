/**
 * Trust and diagnostics of a hop's OPC UA sides against node-opcua: the
 * application certificates name the hop, the startup line lists exactly the
 * endpoints offered, the points live in the hop's own namespace, an
 * untrusted client is refused with a line that says how to trust it (and is
 * let in without a restart once trusted), a PLC that refuses the hop gets a
 * line saying which certificate to install on it, and times lose exactly
 * what is documented (below the millisecond).
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert";
import { basename, join } from "node:path";
import * as x509 from "@peculiar/x509";
import { AttributeIds, type DataValue, MessageSecurityMode, UserTokenType } from "node-opcua";
import { readCertificate } from "node-opcua-crypto";
import { initCa } from "../core/mod.ts";
import { freePort, runHopgate, tempDir, waitFor } from "./kit/helpers.ts";
import { expectLine, startPlantHop, startPlc, stopHop, TestClient } from "./kit/opcua.ts";
import { precisePlcTimes } from "./fixtures/plc_values.ts";

const anonymous = { type: UserTokenType.Anonymous } as const;

/** The names a PEM certificate carries: subject and subject alternative names by type. */
async function certificateNames(file: string) {
  const cert = new x509.X509Certificate(await Deno.readTextFile(file));
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  const of = (type: string) => san.filter((n) => n.type === type).map((n) => n.value).sort();
  return { subject: cert.subject, uri: of("url"), dns: of("dns"), ip: of("ip") };
}

/** A DateTime as node-opcua gives it: a Date, with the picoseconds below its millisecond beside it. */
function picosecondsOf(date: unknown): number {
  return (date as { picoseconds?: number }).picoseconds ?? 0;
}

Deno.test("a hop's OPC UA sides name the hop and explain refusals", async (t) => {
  await using dir = await tempDir();
  const data = join(dir.path, "plant1");
  const plc = await startPlc({ count: 4, pki: join(dir.path, "plc"), extra: ["--precise"] });
  const port = freePort();
  const hop = startPlantHop(plc, dir.path, data, [
    "--opcua-server",
    `127.0.0.1:${port}`,
    "--opcua-server-security",
    "SignAndEncrypt:Basic256Sha256",
    "--opcua-server-security",
    "Sign:Aes256_Sha256_RsaPss",
    "--opcua-server-security",
    "None",
    "--opcua-server-anonymous",
  ]);
  const url = `opc.tcp://127.0.0.1:${port}/hopgate`;
  const client = await TestClient.create(join(dir.path, "client"), data);
  const stranger = await TestClient.create(join(dir.path, "stranger"), data, {
    trust: false,
    uri: "urn:hopgate-test:stranger",
  });
  const plcReader = await TestClient.create(join(dir.path, "plc-reader"), data);
  const host = Deno.hostname();
  try {
    const listening = await expectLine(hop, /OPC UA server listening/);
    await expectLine(hop, /Connected to opcua:plc/);

    await t.step("the server and client certificates name the hop and what it serves", async () => {
      const server = await certificateNames(
        join(data, "opcua-server-pki", "own", "certs", "certificate.pem"),
      );
      assertEquals(server, {
        subject: "O=hopgate, CN=hopgate plant1",
        uri: [`urn:${host}:hopgate:plant1`],
        dns: [host],
        ip: ["127.0.0.1"],
      });
      const client = await certificateNames(
        join(data, "opcua-pki", "own", "certs", "client_certificate.pem"),
      );
      assertEquals(client, {
        subject: "O=hopgate, CN=hopgate plant1",
        uri: [`urn:${host}:hopgate:plant1`],
        dns: [host],
        ip: [],
      });
      // The PLC saw the hop's client certificate under the hop's name.
      const seen = [...Deno.readDirSync(join(dir.path, "plc", "pki", "trusted", "certs"))];
      assert(seen.some((e) => e.name.startsWith("hopgate plant1[")), JSON.stringify(seen));
    });

    await t.step("the startup line lists exactly the endpoints a client is offered", async () => {
      const offered = (await client.endpoints(url)).map((e) => {
        const mode = MessageSecurityMode[e.securityMode];
        return mode === "None" ? "None" : `${mode}:${e.securityPolicyUri?.split("#")[1]}`;
      });
      // Three settings offer every pairing of their modes and policies: five endpoints.
      assertEquals(offered.length, 5, offered.join(", "));
      const logged = /with (\d+) endpoints: opc\.tcp:\/\/127\.0\.0\.1:\d+\/hopgate \(([^)]*)\)/
        .exec(listening);
      assert(logged, listening);
      assertEquals(Number(logged[1]), offered.length);
      assertEquals(logged[2]!.split(", ").sort(), offered.sort());
      assert(listening.includes(`listening as urn:${host}:hopgate:plant1`), listening);
    });

    await t.step("points live in the namespace urn:hopgate:<hop>, index 2", async () => {
      const session = await client.connect(url, anonymous);
      const namespaces = await session.read({ nodeId: "i=2255", attributeId: AttributeIds.Value });
      assertEquals((namespaces.value.value as string[])[2], "urn:hopgate:plant1");
      const [counter] = await client.read(["plant1/plc/Plant/Counter"]);
      assertEquals(counter!.status, 0, "ns=2;s=<point id> reads the point");
      await client.disconnect();
    });

    await t.step("times keep milliseconds: what lies below is dropped, as documented", async () => {
      // The PLC itself serves 100 ns resolution (so this step could see it kept).
      const direct = await plcReader.connect(plc.url, anonymous);
      const atPlc: DataValue = await direct.read({
        nodeId: "ns=1;s=Plant/Precise",
        attributeId: AttributeIds.Value,
      });
      assertEquals(picosecondsOf(atPlc.value.value), precisePlcTimes.value.picoseconds);
      assertEquals(atPlc.sourcePicoseconds, precisePlcTimes.source.picoseconds);
      await plcReader.disconnect();

      await client.connect(url, anonymous);
      const id = "plant1/plc/Plant/Precise";
      const [atHop] = await waitFor("the precise point at the hop", async () => {
        const r = await client.read([id]);
        return r[0]?.status === 0 ? r : undefined;
      });
      const value = atHop!.dv.value.value as Date;
      // …05.6781234Z arrives as …05.678Z: truncated to the millisecond, never rounded up.
      assertEquals(value.toISOString(), "2026-12-01T06:05:05.678Z");
      assertEquals(picosecondsOf(value), 0);
      assertEquals(atHop!.dv.sourceTimestamp?.toISOString(), "2026-12-01T06:05:05.678Z");
      assertEquals(atHop!.dv.sourcePicoseconds ?? 0, 0);
      await client.disconnect();
    });

    await t.step(
      "an untrusted client is refused with a line saying how to trust it, then let in once trusted",
      async () => {
        await rejects(stranger.connect(url, anonymous), "an unknown client certificate is refused");
        const line = await expectLine(
          hop,
          /Refused a login from 127\.0\.0\.1:\d+: client application urn:hopgate-test:stranger \("hopgate-test-client", thumbprint [0-9a-f]{40}\) is not trusted \(BadCertificateUntrusted\); its certificate was saved as (.+\.pem): if you know it, move it to (.+) \(it counts from the client's next connection\)/,
        );
        const [, saved, trusted] = line.match(
          /saved as (.+\.pem): if you know it, move it to (.+) \(/,
        )!;
        assertEquals(trusted, join(data, "opcua-server-pki", "trusted", "certs"));
        await Deno.rename(saved!, join(trusted!, basename(saved!)));
        // No restart: the next connection finds it trusted.
        const session = await stranger.connect(url, anonymous);
        assert(session, "the client is let in once its certificate is in trusted/certs");
        await stranger.disconnect();
      },
    );

    await t.step(
      "a refused user certificate is a failed login with the file to trust",
      async () => {
        const own = join(dir.path, "stranger", "own");
        await rejects(
          stranger.connect(url, {
            type: UserTokenType.Certificate,
            certificateData: readCertificate(join(own, "certs", "client_certificate.pem")),
            privateKey: await Deno.readTextFile(join(own, "private", "private_key.pem")),
          }),
          "a user certificate the hop does not trust is refused",
        );
        await expectLine(
          hop,
          /Refused a login from 127\.0\.0\.1:\d+: user certificate "hopgate-test-client" \(thumbprint [0-9a-f]{40}\) refused \(Bad\w+\), client application urn:hopgate-test:stranger "hopgate-test-client"; it was saved as .*users\/rejected\/.*\.pem: if you know it, move it to .*users\/trusted\/certs/,
        );
      },
    );
  } finally {
    await client.close();
    await stranger.close();
    await plcReader.close();
    await stopHop(hop);
    await plc.proc.stop();
  }
  // No noise from the libraries: Node's warning about process.env, Deno's about build scripts.
  assert(!/DeprecationWarning|Ignored build scripts/.test(hop.output()), hop.output());
});

Deno.test("a PLC that refuses the hop gets one warning naming the certificate to install on it, and one when it lets the hop in", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "plant1");
  const plcPki = join(dir.path, "plc");
  let plc = await startPlc({ count: 4, pki: plcPki, extra: ["--strict"] });
  const hop = startPlantHop(plc, dir.path, data, ["--log-level", "debug"]);
  try {
    const own = join(data, "opcua-pki", "own", "certs", "client_certificate.pem");
    const line = await expectLine(
      hop,
      /opcua:plc at .* is lost or unreachable: the PLC refused the connection \((.+)\); it probably does not trust this hop's certificate (\S+) \("hopgate plant1", urn:[^,]+:hopgate:plant1, thumbprint [0-9a-f]{40}\): trust it on the PLC/,
    );
    assert(line.includes(`certificate ${own} (`), line);
    assert(/rejected by server|BadSecurityChecksFailed/.test(line), "keeps node-opcua's text");
    // Several attempts, still one warning.
    await expectLine(hop, /opcua:plc is still unreachable \(attempt 3\)/, 30_000);
    assertEquals(hop.output().match(/is lost or unreachable/g)?.length, 1);

    // The PLC's operator trusts the hop's certificate (this PLC reads its trust list at start).
    const rejected = join(plcPki, "pki", "rejected");
    const file = await waitFor(
      "the hop's certificate among the PLC's rejected ones",
      () => [...Deno.readDirSync(rejected)].find((e) => e.name.startsWith("hopgate plant1["))?.name,
    );
    await Deno.rename(join(rejected, file), join(plcPki, "pki", "trusted", "certs", file));
    await plc.proc.stop();
    plc = await startPlc({ count: 4, pki: plcPki, port: plc.port, extra: ["--strict"] });
    await expectLine(hop, /Connected to opcua:plc/, 60_000);
    await expectLine(hop, /opcua:plc is back after [\d.]+ s and \d+ failed attempts/);
    assertEquals(hop.output().match(/is lost or unreachable/g)?.length, 1);
  } finally {
    await stopHop(hop);
    await plc.proc.stop();
  }
});

Deno.test("with certificates issued by the chain's CA, a PLC that trusts the CA once lets the hop in", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "plant1");
  const caDir = join(dir.path, "ca");
  await initCa(caDir);
  const issued = await runHopgate([
    "certs",
    "opcua",
    "plant1",
    "--ca-dir",
    caDir,
    "--data-dir",
    data,
    "--address",
    "127.0.0.1,opc.plant.example",
  ]);
  assertEquals(issued.code, 0, issued.stderr);
  const ca = new x509.X509Certificate(await Deno.readTextFile(join(caDir, "ca.crt")));
  const serverPem = join(data, "opcua-server-pki", "own", "certs", "certificate.pem");
  const server = new x509.X509Certificate(await Deno.readTextFile(serverPem));
  assertEquals(server.issuer, ca.subject);
  assert(await server.verify({ publicKey: ca.publicKey, signatureOnly: true }), "signed by the CA");
  const names = await certificateNames(serverPem);
  assertEquals(names.uri, [`urn:${Deno.hostname()}:hopgate:plant1`]);
  assertEquals([names.dns, names.ip], [[Deno.hostname(), "opc.plant.example"].sort(), [
    "127.0.0.1",
  ]]);

  // The PLC's operator trusts the CA (with its revocation list), not each hop.
  const plcPki = join(dir.path, "plc");
  for (const f of ["certs", "crl"]) {
    await Deno.mkdir(join(plcPki, "pki", "trusted", f), { recursive: true });
  }
  await Deno.copyFile(join(caDir, "ca.crt"), join(plcPki, "pki", "trusted", "certs", "ca.pem"));
  await Deno.copyFile(join(caDir, "ca.crl"), join(plcPki, "pki", "trusted", "crl", "ca.crl"));
  const plc = await startPlc({ count: 4, pki: plcPki, extra: ["--strict"] });
  const hop = startPlantHop(plc, dir.path, data);
  try {
    await expectLine(hop, /Connected to opcua:plc/, 60_000);
    assert(!/Made (a new )?the OPC UA|lost or unreachable/.test(hop.output()), hop.output());
  } finally {
    await stopHop(hop);
    await plc.proc.stop();
  }
});
