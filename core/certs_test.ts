import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert";
import { join } from "node:path";
import { CertError, certificateNames, initCa, issueHopCert } from "./certs.ts";

Deno.test("certs: a CA issues hop certificates naming the hop, with owner-only keys", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ca = await initCa(join(dir, "ca"));
    const out = await issueHopCert("plant1", { caDir: join(dir, "ca"), outDir: join(dir, "p") });
    assertEquals(certificateNames(await Deno.readTextFile(out.cert)), ["plant1"]);
    assertEquals((await Deno.stat(out.key)).mode! & 0o777, 0o600);
    assertEquals((await Deno.stat(ca.key)).mode! & 0o777, 0o600);
    assertEquals(await Deno.readTextFile(out.ca), await Deno.readTextFile(ca.cert));
    await rejects(initCa(join(dir, "ca")), CertError, "an existing CA is never overwritten");
    await rejects(
      issueHopCert("x", { caDir: join(dir, "nope"), outDir: dir }),
      /hopgate certs init/,
    );
    assert((await Deno.readTextFile(out.cert)).startsWith("-----BEGIN CERTIFICATE-----"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
