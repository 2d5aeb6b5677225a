import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert";
import * as x509 from "@peculiar/x509";
import { join } from "node:path";
import { CertError, certificateNames, initCa, issueHopCert } from "./certs.ts";

Deno.test("certs: a CA issues hop certificates naming the hop, with owner-only keys", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ca = await initCa(join(dir, "ca"));
    const out = await issueHopCert("plant1", { caDir: join(dir, "ca"), outDir: join(dir, "p") });
    assertEquals(await certificateNames(await Deno.readTextFile(out.cert)), ["plant1"]);
    assertEquals((await Deno.stat(out.key)).mode! & 0o777, 0o600);
    assertEquals((await Deno.stat(ca.key)).mode! & 0o777, 0o600);
    assertEquals(await Deno.readTextFile(out.ca), await Deno.readTextFile(ca.cert));
    await rejects(initCa(join(dir, "ca")), CertError, "an existing CA is never overwritten");
    await rejects(initCa(join(dir, "ca2"), { days: NaN }), /--days "NaN" is not a number of days/);
    await rejects(
      issueHopCert("p", { caDir: join(dir, "ca"), outDir: dir, days: 0 }),
      /--days "0"/,
    );
    await rejects(
      issueHopCert("x", { caDir: join(dir, "nope"), outDir: dir }),
      /hopgate certs init/,
    );
    assert((await Deno.readTextFile(out.cert)).startsWith("-----BEGIN CERTIFICATE-----"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("certs: a hop certificate can also name IP addresses, for peers that check the dialled address", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await initCa(join(dir, "ca"));
    const out = await issueHopCert("dmz", {
      caDir: join(dir, "ca"),
      outDir: join(dir, "d"),
      ips: ["127.0.0.1"],
    });
    const pem = await Deno.readTextFile(out.cert);
    assertEquals(await certificateNames(pem), ["dmz"]);
    const san = new x509.X509Certificate(pem).getExtension(x509.SubjectAlternativeNameExtension);
    assertEquals(san?.names.items.map((n) => `${n.type}:${n.value}`), ["dns:dmz", "ip:127.0.0.1"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
