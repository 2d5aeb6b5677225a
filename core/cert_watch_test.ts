import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert";
import { join } from "node:path";
import { adapterContext, type HopContext } from "./adapter.ts";
import { loadCertSet } from "./cert_files.ts";
import { certExpiryPointId, CertWatch } from "./cert_watch.ts";
import { ManualClock } from "./clock.ts";
import { initCa, issueHopCert, renewHopCert } from "./commands/certs.ts";
import type { HopConfig } from "./config/mod.ts";
import { PointStore } from "./point_store.ts";
import { Status } from "./status.ts";

const day = 86_400_000;

/** A CA, a hop `dmz` with a certificate valid `days`, and another CA issuing a `dmz` too. */
async function fixture(dir: string, days = 825) {
  await initCa(join(dir, "ca"));
  await initCa(join(dir, "ca2"));
  const dmz = await issueHopCert("dmz", { caDir: join(dir, "ca"), outDir: join(dir, "dmz"), days });
  const evil = await issueHopCert("dmz", { caDir: join(dir, "ca2"), outDir: join(dir, "evil") });
  const spec = {
    cert: { path: dmz.cert, flag: "--tls-cert" },
    key: { path: dmz.key, flag: "--tls-key" },
    ca: { path: dmz.ca, flag: "--tls-ca" },
    issuedByCa: true,
    expiry: { cert: "tls", ca: "ca" },
  };
  return { dmz, evil, spec };
}

/** Log lines as `level: message` with the properties filled in. */
function recordingLog(lines: string[]): HopContext["log"] {
  const at = (level: string) => (msg: string, props: Record<string, unknown> = {}) =>
    void lines.push(
      `${level}: ${msg.replace(/\{(\w+)\}/g, (_, k: string) => String(props[k]))}`,
    );
  return {
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    debug: () => {},
  } as unknown as HopContext["log"];
}

Deno.test("cert files: a mismatched key, a certificate from another CA and a half-written file are each refused with the file named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { dmz, evil, spec } = await fixture(dir);
    const set = await loadCertSet(spec);
    assertEquals(set.cert?.subject, "CN=dmz");
    assert(set.cert!.notAfter.getTime() > Date.now() + 800 * day);
    await rejects(
      loadCertSet({ ...spec, key: { path: evil.key, flag: "--tls-key" } }),
      /--tls-key ".*evil\/dmz\.key" is not the key of --tls-cert ".*dmz\/dmz\.crt" \(CN=dmz, serial/,
    );
    await rejects(
      loadCertSet({
        ...spec,
        cert: { path: evil.cert, flag: "--tls-cert" },
        key: { path: evil.key, flag: "--tls-key" },
      }),
      /--tls-cert ".*evil\/dmz\.crt" \(CN=dmz, issued by CN=hopgate chain CA\) is not issued by the CA in --tls-ca/,
    );
    const half = join(dir, "half.crt");
    const pem = await Deno.readTextFile(dmz.cert);
    await Deno.writeTextFile(half, pem.slice(0, pem.length / 2));
    await rejects(
      loadCertSet({ ...spec, cert: { path: half, flag: "--tls-cert" } }),
      /--tls-cert ".*half\.crt" holds no complete PEM certificate \(half written\?\)/,
    );
    const halfKey = join(dir, "half.key");
    const key = await Deno.readTextFile(dmz.key);
    await Deno.writeTextFile(halfKey, key.slice(0, 60));
    await rejects(
      loadCertSet({ ...spec, key: { path: halfKey, flag: "--tls-key" } }),
      /--tls-key ".*half\.key" holds no private key that can be read/,
    );
    await rejects(
      loadCertSet({ ...spec, ca: { path: join(dir, "nope.crt"), flag: "--tls-ca" } }),
      /Cannot read --tls-ca ".*nope\.crt"/,
    );
    // A bundle of two CAs (while the chain moves to a new CA) accepts certificates from either.
    const bundle = join(dir, "bundle.crt");
    await Deno.writeTextFile(
      bundle,
      (await Deno.readTextFile(join(dir, "ca2", "ca.crt"))) +
        (await Deno.readTextFile(join(dir, "ca", "ca.crt"))),
    );
    for (const files of [dmz, evil]) {
      const set = await loadCertSet({
        ...spec,
        cert: { path: files.cert, flag: "--tls-cert" },
        key: { path: files.key, flag: "--tls-key" },
        ca: { path: bundle, flag: "--tls-ca" },
      });
      assertEquals(set.cert?.subject, "CN=dmz");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cert watch: expiry points, a renewed certificate taken on reload, a broken pair refused with the old one kept, warnings once per threshold, Bad once expired", async () => {
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  const clock = new ManualClock(Date.now());
  const store = new PointStore("dmz");
  // A short-lived certificate: 3 days left.
  const { dmz, evil, spec } = await fixture(dir, 3);
  const watch = new CertWatch("tls", spec, { interval: 0, sighup: false });
  try {
    await watch.start(adapterContext(watch, {
      hop: "dmz",
      config: {} as HopConfig,
      store,
      clock,
      signal: new AbortController().signal,
      log: recordingLog(lines),
      write: () => Promise.resolve(Status.BadNotWritable),
    }));
    const tls = () => store.get(certExpiryPointId("dmz", "tls"))!;
    const ca = () => store.get(certExpiryPointId("dmz", "ca"))!;
    const first = watch.current.cert!;
    assertEquals([tls().type, tls().status, tls().value], [
      "DateTime",
      Status.Good,
      first.notAfter,
    ]);
    assertEquals(ca().status, Status.Good);
    assert((ca().value as Date).getTime() > Date.now() + 3000 * day, "the CA's 10 years");
    const warnings = () => lines.filter((l) => l.startsWith("warn:"));
    // One line for the nearest threshold, not one for each of 30 and 7 days.
    assertEquals(warnings().length, 1);
    assert(
      /--tls-cert ".*dmz\.crt" \(CN=dmz, serial \w+\) expires in less than 7 days/.test(
        warnings()[0]!,
      ),
      String(warnings()[0]),
    );
    await watch.reload("test");
    assertEquals(warnings().length, 1, "a threshold is logged once per certificate");

    // A broken pair: the key of another certificate. Refused, the old set stays.
    await Deno.copyFile(evil.key, dmz.key);
    assertEquals(await watch.reload("SIGHUP"), false);
    assert(/^error: Refused the certificate files \(SIGHUP\): --tls-key .* is not the key of/.test(
      lines.at(-1)!,
    ));
    assert(lines.at(-1)!.includes(`still using CN=dmz, serial ${first.serial}`));
    assertEquals(watch.current.cert!.serial, first.serial);
    // What reports read is the set in use, not the refused files.
    const held = () => watch.certificates().map((c) => [c.name, c.flag, c.subject, c.serial]);
    const caSerial = watch.current.ca!.serial;
    assertEquals(held(), [
      ["tls", "--tls-cert", "CN=dmz", first.serial],
      ["ca", "--tls-ca", watch.current.ca!.subject, caSerial],
    ]);
    assertEquals(watch.certificates()[0]!.issuer, watch.current.ca!.subject);
    assertEquals(watch.certificates()[0]!.path, dmz.cert);
    assertEquals(watch.status().connection, "connected");
    assert(watch.status().lastError?.includes("is not the key of"));

    // Renewed: a new key and certificate, taken on the next reload, its expiry the point's value.
    const renewed = await renewHopCert("dmz", { caDir: join(dir, "ca"), outDir: join(dir, "dmz") });
    let seen = "";
    watch.onChange((set) => seen = set.cert!.serial);
    assertEquals(await watch.reload("SIGHUP"), true);
    assertEquals(seen, renewed.serial);
    assertEquals(tls().value, renewed.notAfter);
    assertEquals(held()[0], ["tls", "--tls-cert", "CN=dmz", renewed.serial]);
    assertEquals(watch.certificates()[0]!.notAfter, renewed.notAfter);
    assert(
      lines.at(-1)!.startsWith(
        `info: Reloaded --tls-cert "${dmz.cert}", --tls-key "${dmz.key}", --tls-ca "${dmz.ca}" (SIGHUP): CN=dmz, serial ${renewed.serial}, valid until ${renewed.notAfter.toISOString()}`,
      ),
      String(lines.at(-1)),
    );

    // Past its end (time moved on): Bad with the cause, one error line, the adapter down; the
    // expired certificate read again is refused.
    clock.advance(826 * day);
    assertEquals(await watch.reload("test"), false);
    assert(
      lines.some((l) =>
        /is valid from .* not now; give a current certificate; still using/.test(l)
      ),
      lines.slice(-3).join("\n"),
    );
    const expired = tls();
    assertEquals(expired.status, Status.BadCertificateTimeInvalid);
    assertEquals(expired.value, renewed.notAfter);
    assertEquals(expired.cause?.via, "certs:tls");
    assert(expired.cause?.reason.includes("expired on"));
    await watch.reload("test");
    assertEquals(lines.filter((l) => /^error: .* expired on/.test(l)).length, 1);
    assertEquals(watch.status().connection, "down");
  } finally {
    await watch.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("certs renew: keeps the IP addresses, makes a new key unless told to keep it, leaves no temporary files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await initCa(join(dir, "ca"));
    const out = join(dir, "dmz");
    await issueHopCert("dmz", { caDir: join(dir, "ca"), outDir: out, ips: ["127.0.0.1"] });
    const key0 = await Deno.readTextFile(join(out, "dmz.key"));
    const a = await renewHopCert("dmz", { caDir: join(dir, "ca"), outDir: out, keepKey: true });
    assertEquals(await Deno.readTextFile(a.key), key0);
    const set = await loadCertSet({
      cert: { path: a.cert, flag: "c" },
      key: { path: a.key, flag: "k" },
      ca: { path: a.ca, flag: "a" },
      issuedByCa: true,
      expiry: {},
    });
    assertEquals(set.cert!.serial, a.serial);
    const b = await renewHopCert("dmz", { caDir: join(dir, "ca"), outDir: out, days: 2 });
    assert(await Deno.readTextFile(b.key) !== key0, "a new key by default");
    assert(b.notAfter.getTime() < Date.now() + 2 * day);
    const pem = await Deno.readTextFile(b.cert);
    const { X509Certificate } = await import("node:crypto");
    assert(new X509Certificate(pem).subjectAltName?.includes("127.0.0.1"));
    assertEquals([...Deno.readDirSync(out)].map((e) => e.name).sort(), [
      "ca.crt",
      "dmz.crt",
      "dmz.key",
    ]);
    assertEquals((await Deno.stat(b.key)).mode! & 0o777, 0o600);
    await rejects(
      renewHopCert("it", { caDir: join(dir, "ca"), outDir: out }),
      /No certificate of hop it at .*; issue one with: hopgate certs issue it/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
