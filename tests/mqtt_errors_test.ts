/**
 * A broker that cannot be used says why and what to do: in the adapter's
 * status (lastError, in the status line) and in a log line. Each hop runs as a
 * subprocess under exactly its derived permissions.
 */
import { ok as assert } from "node:assert";
import { join } from "node:path";
import { freePort, type Proc, tempDir } from "./kit/helpers.ts";
import { spawnHop } from "./kit/hops.ts";
import { Mosquitto, setupBroker, tlsHopFlags } from "./kit/mosquitto.ts";

Deno.test("a bad broker URL, an untrusted or refused certificate and refused credentials each give a clear error", async () => {
  await using dir = await tempDir();
  const setup = await setupBroker(dir.path);
  const broker = new Mosquitto(setup);
  const hops: Proc[] = [];
  try {
    await broker.start();
    const wrong = join(dir.path, "wrong-password");
    await Deno.writeTextFile(wrong, "not-the-password\n");
    const base = (name: string) => ["--sim", "1", "--data-dir", join(dir.path, name)];
    const cases: { what: string; flags: string[]; error: RegExp }[] = [
      {
        what: "unresolvable host",
        flags: [
          "--name",
          "p1",
          ...base("p1"),
          "--status-interval",
          "300ms",
          "--mqtt",
          "mqtts://no-such-host.invalid:8883",
        ],
        error: /Cannot resolve the broker host "no-such-host\.invalid"; check --mqtt/,
      },
      {
        what: "nothing listening",
        flags: [
          "--name",
          "p2",
          ...base("p2"),
          "--status-interval",
          "300ms",
          "--mqtt",
          `mqtts://localhost:${freePort()}`,
        ],
        error: /Broker localhost:\d+ refused the connection; check that it runs/,
      },
      {
        what: "untrusted broker certificate",
        flags: tlsHopFlags(setup, join(dir.path, "p3"), ["--sim", "1", "--mqtt-ca", setup.otherCa])
          .map((f) => f === "--name" ? f : f === "plant1" ? "p3" : f),
        error: /The broker's certificate is not trusted .*; pass --mqtt-ca/,
      },
      {
        what: "client certificate the broker does not trust",
        flags: tlsHopFlags(setup, join(dir.path, "p4"), [
          "--sim",
          "1",
          "--mqtt-cert",
          setup.otherCert,
          "--mqtt-key",
          setup.otherKey,
        ]).map((f) => f === "plant1" ? "p4" : f),
        error:
          /The broker refused this hop's client certificate .*; pass --mqtt-cert and --mqtt-key/,
      },
      {
        what: "wrong password",
        flags: [
          "--name",
          "p5",
          ...base("p5"),
          "--status-interval",
          "300ms",
          "--mqtt",
          `mqtt://127.0.0.1:${setup.authPort}`,
          "--mqtt-allow-plaintext",
          "--mqtt-username",
          "hopgate",
          "--mqtt-password-file",
          wrong,
        ],
        error: /refused the credentials .*; check --mqtt-username and --mqtt-password-file/,
      },
    ];
    for (const c of cases) {
      hops.push(spawnHop(dir.path, c.flags));
    }
    for (const [i, c] of cases.entries()) {
      const hop = hops[i]!;
      const log = await hop.waitForLine(/\[WRN\].*MQTT: /, 20_000).catch(() => hop.output());
      assert(c.error.test(log), `${c.what}: log line ${log}`);
      const status = await hop.waitForLine(/Status: .*mqtt running\/down \(/, 20_000);
      assert(c.error.test(status), `${c.what}: status ${status}`);
    }
  } finally {
    for (const h of hops) await h.stop();
    await broker.stop();
  }
});
