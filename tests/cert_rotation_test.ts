/**
 * Certificates rotate without a restart: hops as subprocesses under their
 * derived permissions re-read renewed certificates (on a change of the files,
 * or on SIGHUP) and use them for the next link, while links already up stay
 * up; a broken pair is refused and the old one kept; each certificate's
 * expiry is a point; the MQTT bridge takes a new CA and client certificate
 * on its next connection.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { certExpiryPointId, initCa, issueHopCert, renewHopCert, Status } from "../core/mod.ts";
import { freePort, type Proc, runHopgate, tempDir, waitFor } from "./kit/helpers.ts";
import { LinkProxy, localHop, startDmz, startHop, stopAll, waitForPoints } from "./kit/hops.ts";
import { Mosquitto, setupBroker, tlsHopFlags } from "./kit/mosquitto.ts";
import { spawnHop } from "./kit/hops.ts";

const fast = ["--heartbeat", "200ms", "--link-timeout", "1s", "--cert-check", "200ms"];

/** Escapes a path or serial for a RegExp. */
function re(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Copies `from` over `to` by a rename, as deploy tools do. */
async function replace(from: string, to: string): Promise<void> {
  const tmp = `${to}.new`;
  await Deno.copyFile(from, tmp);
  await Deno.rename(tmp, to);
}

Deno.test("renewed certificates are used by the next link while links already up stay up; SIGHUP reloads; a broken pair keeps the old one; expiry points and warnings", async () => {
  await using dir = await tempDir();
  const caDir = join(dir.path, "ca");
  await initCa(caDir);
  // Short-lived certificates for the two hops whose link is renewed: 3 days left.
  const dmzFiles = await issueHopCert("dmz", {
    caDir,
    outDir: join(dir.path, "dmz", "certs"),
    days: 3,
  });
  const plantFiles = await issueHopCert("plant1", {
    caDir,
    outDir: join(dir.path, "plant1", "certs"),
    days: 3,
  });
  await issueHopCert("ops", { caDir, outDir: join(dir.path, "ops", "certs") });
  const p1 = freePort();
  await using proxy = new LinkProxy(p1);
  let dmz: Proc | null = null, plant: Proc | null = null;
  try {
    dmz = await startDmz(dir.path, p1, "plant1:push,ops:pull", fast);
    plant = await startHop(dir.path, "plant1", [
      "--sim",
      "5",
      "--sim-rate",
      "50",
      "--push",
      `dmz=127.0.0.1:${proxy.port}`,
      ...fast,
    ]);
    // ops pulls straight from dmz: the link that must stay up through every reload.
    await using ops = await localHop(dir.path, "ops", ["--pull", `dmz=127.0.0.1:${p1}`, ...fast]);
    await waitForPoints(ops.hop, "plant1/sim/", 5, "good");
    const store = ops.hop.store;
    const opsSince = () => store.get("ops/$links/dmz/since")?.value;
    const since0 = opsSince();
    assert(since0 instanceof Date);

    // Expiry points, relayed like any point, with the certificates' notAfter; a warning under 7 days.
    const dmzCert = await Deno.readTextFile(dmzFiles.cert);
    const { X509Certificate } = await import("node:crypto");
    const notAfter0 = new Date(new X509Certificate(dmzCert).validTo);
    const expiry = await waitFor("dmz's expiry point at ops", () => {
      const p = store.get(certExpiryPointId("dmz", "tls"));
      return p?.status === Status.Good ? p : undefined;
    });
    assertEquals([expiry.type, expiry.value], ["DateTime", notAfter0]);
    assert(store.get(certExpiryPointId("dmz", "ca"))?.status === Status.Good);
    await waitFor(
      "plant1's expiry point at ops",
      () => store.get(certExpiryPointId("plant1", "tls")),
    );
    await dmz.waitForLine(
      new RegExp(
        `\\[WRN\\].*--tls-cert "${
          re(dmzFiles.cert)
        }" \\(CN=dmz, serial \\w+\\) expires in less than 7 days`,
      ),
    );

    // Renew both ends of the plant1→dmz link; each hop sees the files change and reloads.
    const dmzNew = await renewHopCert("dmz", { caDir, outDir: join(dir.path, "dmz", "certs") });
    const plantNew = await renewHopCert("plant1", {
      caDir,
      outDir: join(dir.path, "plant1", "certs"),
    });
    await dmz.waitForLine(
      new RegExp(
        `Reloaded --tls-cert "${
          re(dmzFiles.cert)
        }", --tls-key ".*" \\(files changed\\): CN=dmz, serial ${dmzNew.serial}, valid until ${
          re(dmzNew.notAfter.toISOString())
        }`,
      ),
    );
    await plant.waitForLine(new RegExp(`Reloaded .*CN=plant1, serial ${plantNew.serial}`));
    await waitFor("the renewed expiry at ops", () => {
      const v = store.get(certExpiryPointId("dmz", "tls"))?.value;
      return v instanceof Date && v.getTime() === dmzNew.notAfter.getTime();
    });

    // Cut the plant's link: the new link shows the new certificates on both sides.
    proxy.cut();
    await waitForPoints(ops.hop, "plant1/sim/", 5, "uncertain");
    proxy.restore();
    await dmz.waitForLine(new RegExp(`plant1 presented CN=plant1, serial ${plantNew.serial}`));
    await plant.waitForLine(new RegExp(`dmz presented CN=dmz, serial ${dmzNew.serial}`));
    await waitForPoints(ops.hop, "plant1/sim/", 5, "good");
    // The link ops dialled before the renewal never went down.
    assertEquals(opsSince(), since0);
    assertEquals(store.get("ops/$links/dmz/connected")?.value, true);

    // SIGHUP, under the hop's own permissions: read again at once.
    const reloads = plant.lines.filter((l) => l.includes("Reloaded")).length;
    plant.child.kill("SIGHUP");
    await plant.waitForLine(/Reloaded .* \(SIGHUP\): CN=plant1/);
    assertEquals(plant.lines.filter((l) => l.includes("Reloaded")).length, reloads + 1);

    // A broken pair (the key of another certificate) is refused; the renewed one stays in use.
    await replace(plantFiles.key, dmzFiles.key);
    await dmz.waitForLine(
      new RegExp(
        `\\[ERR\\].*Refused the certificate files \\(files changed\\): --tls-key "${
          re(dmzFiles.key)
        }" is not the key of --tls-cert .*; still using CN=dmz, serial ${dmzNew.serial}`,
      ),
    );
    const presented = dmz.lines.filter((l) => l.includes("plant1 presented")).length;
    proxy.cut();
    await waitForPoints(ops.hop, "plant1/sim/", 5, "uncertain");
    proxy.restore();
    await waitFor(
      "a new link",
      () => dmz!.lines.filter((l) => l.includes("plant1 presented")).length > presented,
    );
    await waitForPoints(ops.hop, "plant1/sim/", 5, "good");
    assert(
      plant.lines.filter((l) => l.includes(`dmz presented CN=dmz, serial ${dmzNew.serial}`))
        .length >= 2,
      "the new link was made with the certificate in use before the broken pair",
    );
    assertEquals(opsSince(), since0);
  } finally {
    await stopAll(plant, dmz);
  }
});

Deno.test("the MQTT bridge takes a reloaded CA and client certificate on its next connection", async () => {
  await using dir = await tempDir();
  const setup = await setupBroker(dir.path);
  const broker = new Mosquitto(setup);
  // The hop starts with a CA the broker's certificate does not chain to, and a client
  // certificate the broker does not trust: it cannot connect until both are replaced.
  const files = {
    ca: join(dir.path, "mqtt-ca.crt"),
    cert: join(dir.path, "mqtt.crt"),
    key: join(dir.path, "mqtt.key"),
  };
  await Deno.copyFile(setup.otherCa, files.ca);
  await Deno.copyFile(setup.otherCert, files.cert);
  await Deno.copyFile(setup.otherKey, files.key);
  let hop: Proc | null = null;
  try {
    await broker.start();
    hop = spawnHop(
      dir.path,
      tlsHopFlags(setup, join(dir.path, "plant1"), [
        "--sim",
        "1",
        "--mqtt-ca",
        files.ca,
        "--mqtt-cert",
        files.cert,
        "--mqtt-key",
        files.key,
        "--cert-check",
        "200ms",
      ]),
    );
    await hop.waitForLine(/\[WRN\].*MQTT: The broker's certificate is not trusted/, 20_000);
    // Key, then certificate, then CA, each by a rename.
    await replace(setup.clientKey, files.key);
    await replace(setup.clientCert, files.cert);
    await replace(setup.ca, files.ca);
    await hop.waitForLine(
      new RegExp(
        `Reloaded --mqtt-cert "${re(files.cert)}", --mqtt-key "${re(files.key)}", --mqtt-ca "${
          re(files.ca)
        }" \\(files changed\\): CN=hop`,
      ),
    );
    await hop.waitForLine(/MQTT: connected to mqtts:\/\/localhost:\d+/, 40_000).catch((e) => {
      throw new Error(`${e.message}\n${hop?.output()}`);
    });
    assert(
      !hop.lines.some((l) => /Refused the certificate files/.test(l)),
      "the pair was read once both were in place",
    );
  } finally {
    await hop?.stop();
    await broker.stop();
  }
});

Deno.test("hopgate certs renew replaces a hop's certificate and key, and names the new serial and expiry", async () => {
  await using dir = await tempDir();
  const caDir = join(dir.path, "ca");
  const out = join(dir.path, "dmz");
  await initCa(caDir);
  await issueHopCert("dmz", { caDir, outDir: out });
  const key0 = await Deno.readTextFile(join(out, "dmz.key"));
  const r = await runHopgate([
    "certs",
    "renew",
    "dmz",
    "--ca-dir",
    caDir,
    "--out",
    out,
    "--days",
    "30",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const m = /^Wrote .*dmz\.crt and .*dmz\.key for hop dmz: serial (\w+), valid until (\S+)\n$/.exec(
    r.stdout,
  );
  assert(m, r.stdout);
  const { X509Certificate } = await import("node:crypto");
  const cert = new X509Certificate(await Deno.readTextFile(join(out, "dmz.crt")));
  assertEquals([cert.serialNumber, new Date(cert.validTo).toISOString()], [m[1], m[2]]);
  assert(await Deno.readTextFile(join(out, "dmz.key")) !== key0);
  const missing = await runHopgate(["certs", "renew", "it", "--ca-dir", caDir, "--out", out]);
  assertEquals(missing.code, 2);
  assert(
    /hopgate: No certificate of hop it at .*; issue one with: hopgate certs issue it/.test(
      missing.stderr,
    ),
    missing.stderr,
  );
});

Deno.test("a hop without certificate files survives SIGHUP", async () => {
  await using dir = await tempDir();
  const hop = await startHop(dir.path, "plant1", ["--sim", "1", "--status-interval", "100ms"]);
  let exited = false;
  void hop.done.then(() => exited = true);
  try {
    hop.child.kill("SIGHUP");
    const lines = hop.lines.length;
    await waitFor(
      "two status lines after SIGHUP",
      () => exited || hop.lines.slice(lines).filter((l) => l.includes("Status:")).length >= 2,
    );
    assert(!exited, hop.output());
  } finally {
    await hop.stop();
  }
});
