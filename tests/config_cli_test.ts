/** Bad input is refused before anything starts, with a message naming the flag or key and exit code 2. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { hopRunArgs } from "../core/mod.ts";
import { chainCerts, hopConfig } from "./kit/hops.ts";
import { runDeno, runHopgate, tempDir } from "./kit/helpers.ts";

async function expectRefused(args: string[], message: RegExp, cwd?: string) {
  const r = await runHopgate(["run", ...args], cwd ? { cwd } : {});
  assertEquals(r.code, 2, `exit code for ${args.join(" ")}:\n${r.stderr}`);
  assert(message.test(r.stderr), `expected ${message} in:\n${r.stderr}`);
  assert(!/Hop .* starting|Simulating/.test(r.stderr), "nothing may start");
}

Deno.test("an unknown flag is refused with exit code 2", async () => {
  await using dir = await tempDir();
  await expectRefused(["--name", "p", "--sim", "5", "--simm", "3"], /unknown option '--simm'/);
  await expectRefused(
    ["--name", "p", "--sim", "5", "--data-dir", dir.path, "--frobnicate"],
    /--frobnicate/,
  );
});

Deno.test("a missing hop name is refused", async () => {
  await expectRefused(["--sim", "5"], /--name is required/);
});

Deno.test("an unknown key in the YAML file is refused, naming the key and the file", async () => {
  await using dir = await tempDir();
  const file = join(dir.path, "hop.yaml");
  await Deno.writeTextFile(file, "name: plant1\nsim: 10\nlisten-adress: 0.0.0.0:7000\n");
  await expectRefused(["--config", file], /Unknown key "listen-adress" in .*hop\.yaml/);
});

Deno.test("flags override the YAML file", async () => {
  await using dir = await tempDir();
  const file = join(dir.path, "hop.yaml");
  await Deno.writeTextFile(file, "name: plant1\nsim: not-a-number\n");
  await expectRefused(["--config", file], /Invalid "sim" in .*hop\.yaml: expected a whole number/);
  // The same file with --sim given on the command line gets past the sim check.
  await expectRefused(
    ["--config", file, "--sim", "5", "--push", "dmz=127.0.0.1:1", "--data-dir", dir.path],
    /Cannot read --tls-cert/,
  );
});

Deno.test("a bad host:port is refused, naming the flag", async () => {
  await expectRefused(
    ["--name", "p", "--listen", "localhost", "--peers", "a"],
    /Invalid --listen: "localhost" is not host:port/,
  );
  await expectRefused(
    ["--name", "p", "--push", "127.0.0.1:7000"],
    /Invalid --push: .*does not name the hop/,
  );
  await expectRefused(
    ["--name", "p", "--push", "dmz=127.0.0.1:99999"],
    /Invalid --push: "127.0.0.1:99999".*is not host:port/,
  );
});

Deno.test("a bad URL is refused, naming the flag", async () => {
  await expectRefused(
    ["--name", "p", "--sim", "1", "--mqtt", "http://broker:1883"],
    /Invalid --mqtt: .*mqtts:\/\/ or mqtt:\/\//,
  );
  await expectRefused(
    ["--name", "p", "--opcua", "plc1=opc.tcp://"],
    /Invalid --opcua: .*opc\.tcp:\/\/host:port/,
  );
  await expectRefused(
    ["--name", "p", "--sim", "1", "--mqtt", "mqtt://127.0.0.1:1883"],
    /--mqtt .* is unencrypted/,
  );
});

Deno.test("a missing or unreadable certificate file is refused with what to do", async () => {
  await using dir = await tempDir();
  const missing = join(dir.path, "nope.pem");
  await expectRefused(
    [
      "--name",
      "plant1",
      "--push",
      "dmz=127.0.0.1:7000",
      "--data-dir",
      dir.path,
      "--tls-cert",
      missing,
    ],
    /Cannot read --tls-cert ".*nope\.pem": file not found; pass --tls-cert or create it with: hopgate certs issue plant1/,
  );
  await expectRefused(
    [
      "--name",
      "plant1",
      "--push",
      "dmz=127.0.0.1:7000",
      "--data-dir",
      dir.path,
      "--tls-ca",
      dir.path,
    ],
    /Cannot read --tls-ca ".*": is a directory/,
  );
});

Deno.test("a hop with nothing to do is refused", async () => {
  await expectRefused(["--name", "p"], /Nothing to do/);
});

Deno.test("--help lists every flag with its default and exits 0", async () => {
  const r = await runHopgate(["run", "--help"]);
  assertEquals(r.code, 0);
  for (
    const f of [
      "--name",
      "--data-dir",
      "--push",
      "--heartbeat",
      "--opcua-security",
      "--mqtt-format",
    ]
  ) {
    assert(r.stdout.includes(f), `${f} missing from help`);
  }
  assert(/--link-timeout <duration>.*\(default: 5000\)/s.test(r.stdout));
});

Deno.test("a hop dialled twice, or both dialled and accepted, is refused", async () => {
  await expectRefused(
    ["--name", "it", "--pull", "dmz=127.0.0.1:7000", "--push", "dmz=127.0.0.1:7001"],
    /Hop "dmz" is dialled twice/,
  );
  await expectRefused(
    [
      "--name",
      "dmz",
      "--listen",
      "127.0.0.1:7000",
      "--peers",
      "plant1",
      "--pull",
      "plant1=127.0.0.1:7001",
    ],
    /Hop "plant1" is both dialled and accepted/,
  );
});

Deno.test("a hop that cannot start says why in one line and exits 1", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["dmz"]);
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    const { flags, config } = hopConfig(dir.path, "dmz", [
      "--listen",
      `127.0.0.1:${port}`,
      "--peers",
      "plant1",
    ]);
    const r = await runDeno(hopRunArgs(config, flags));
    assertEquals(r.code, 1, r.stderr);
    assert(/Hop dmz could not start: .*(in use|EADDRINUSE)/i.test(r.stderr), r.stderr);
    assert(!/^\s+at /m.test(r.stderr), `no stack trace expected:\n${r.stderr}`);
  } finally {
    busy.close();
  }
});

Deno.test("hopgate certs refuses --days that is not a whole number, quoting what was typed", async () => {
  await using dir = await tempDir();
  for (const days of ["abc", "1.5", "0"]) {
    const r = await runHopgate(["certs", "init", "--dir", `${dir.path}/ca`, "--days", days]);
    assertEquals(r.code, 2, r.stderr);
    assert(r.stderr.includes(`--days "${days}" is not a number of days`), r.stderr);
  }
  assert(!(await Deno.stat(`${dir.path}/ca`).catch(() => null)), "no CA is written");
});

Deno.test("a peer with an unknown role, relays on a puller, a bad --allow-from or a --max-value that leaves no room in --max-frame, too small or a zero handshake timeout is refused", async () => {
  const base = ["--name", "dmz", "--listen", "127.0.0.1:7000"];
  await expectRefused(
    [...base, "--peers", "plant1:pusher"],
    /Invalid --peers: "plant1:pusher" has role "pusher"; a peer's role is push, pull or watch/,
  );
  await expectRefused(
    [...base, "--peers", "it:pull:relays=plant0"],
    /"it:pull:relays=plant0" has more than a name and a role; only a push peer takes relays=/,
  );
  await expectRefused(
    [...base, "--peers", "plant1:push,plant1:pull"],
    /--peers lists "plant1" twice/,
  );
  await expectRefused(
    [...base, "--peers", "plant1:push", "--allow-from", "10.0.0.0/33"],
    /Invalid --allow-from: "10.0.0.0\/33" is not an address or network/,
  );
  await expectRefused(
    [...base, "--peers", "plant1:push", "--max-frame", "64KB", "--max-value", "64KB"],
    /--max-value \(65536 bytes\) leaves no room in --max-frame \(65536 bytes\).*lower --max-value to at most/,
  );
  await expectRefused(
    [...base, "--peers", "plant1:push", "--max-value", "100", "--handshake-timeout", "0"],
    /--handshake-timeout 0 ms leaves no time[^]*--max-value 100 bytes is too small/,
  );
});
