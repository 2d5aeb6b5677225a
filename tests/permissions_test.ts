/** A hop gets exactly the permissions its configuration needs: tested by running it under them. */
import "../adapters/all.ts";
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { dirname, join } from "node:path";
import {
  denoDefaultImportHosts,
  denyFlags,
  derivePermissions,
  hopRunArgs,
  hopV8Flags,
  initCa,
  issueHopCert,
  permissionFlags,
  resolveConfig,
} from "../core/mod.ts";
import {
  flagsConfig,
  freePort,
  mainModule,
  Proc,
  runDeno,
  runHopgate,
  tempDir,
  waitFor,
} from "./kit/helpers.ts";

/** Makes the hop's certificate where it looks by default (the link loads it at start). */
async function tlsFiles(dir: string) {
  const caDir = join(dir, "ca");
  await initCa(caDir);
  await issueHopCert("plant1", { caDir, outDir: join(dir, "certs") });
}

function pushOnly(dir: string, port: number) {
  const flags = [
    "--name",
    "plant1",
    "--sim",
    "50",
    "--push",
    `dmz=127.0.0.1:${port},10.9.9.9:7001`,
    "--data-dir",
    dir,
    "--status-interval",
    "200ms",
  ];
  return flagsConfig(dir, flags);
}

Deno.test("a push-only hop's permissions name only the addresses it dials and its data directory", async () => {
  await using dir = await tempDir();
  await tlsFiles(dir.path);
  const { config } = pushOnly(dir.path, 7000);
  const p = derivePermissions(config);
  assertEquals(p.net, ["127.0.0.1:7000", "10.9.9.9:7001"]);
  assertEquals(p.read, [dir.path]);
  assertEquals(p.write, [dir.path]);
  assertEquals(p.env, []);
  assertEquals(p.sys, []);
  assertEquals(p.ignoreEnv, []);
  const flags = permissionFlags(p);
  assert(!flags.some((f) => f === "--allow-net" || f === "-A" || f === "--allow-all"));
  assert(flags.includes("--no-prompt"));
});

/** Starts a hop expected to exit by itself; its exit code and output, failing after a deadline. */
async function exitOf(args: string[]): Promise<{ code: number; output: string }> {
  const hop = new Proc(args);
  let code: number | undefined;
  hop.done.then((s) => code = s.code);
  try {
    await waitFor("the hop to exit", () => code, 20_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}; its output: ${hop.output()}`);
  } finally {
    await hop.stop();
  }
  return { code: code!, output: hop.output() };
}

/** `deno run` arguments with extra Deno flags before the program. */
function withDenoFlags(args: string[], extra: string[]): string[] {
  const at = args.indexOf(mainModule);
  return [...args.slice(0, at), ...extra, ...args.slice(at)];
}

Deno.test("a hop run with exactly its derived permissions works, and cannot listen", async () => {
  await using dir = await tempDir();
  await tlsFiles(dir.path);
  const port = freePort();
  const { flags, config } = pushOnly(dir.path, port);
  const hop = new Proc(hopRunArgs(config, flags));
  try {
    // The simulator's 50 points, the dmz link's three health points and the expiry points
    // of the hop's certificate and CA.
    await hop.waitForLine(/Status: 55 points, \d+ updates\/s/);
    assert(!/Refusing|Missing permissions/.test(hop.output()), hop.output());
  } finally {
    const status = await hop.stop();
    assertEquals(status.code, 0, hop.output());
  }
  const probe = new URL("./fixtures/try_listen.ts", import.meta.url).pathname;
  const perm = permissionFlags(derivePermissions(config));
  for (const addr of ["0.0.0.0:7000", `127.0.0.1:${freePort()}`]) {
    const r = await runDeno(["run", ...perm, probe, addr]);
    assertEquals(r.stdout.trim(), "REFUSED NotCapable", `listening on ${addr}: ${r.stderr}`);
  }
});

Deno.test("a hop refuses to start with broader permissions than it needs", async () => {
  await using dir = await tempDir();
  const r = await runHopgate(["run", "--name", "p", "--sim", "5", "--data-dir", dir.path]);
  assertEquals(r.code, 3, r.stderr);
  assert(/Refusing to start with more permissions .*unrestricted network/.test(r.stderr), r.stderr);
  assert(!r.stderr.includes("Simulating"), "nothing may start");
});

Deno.test("a hop refuses to start with a narrow grant it does not need, naming the grant", async () => {
  await using dir = await tempDir();
  await tlsFiles(dir.path);
  const { flags, config } = pushOnly(dir.path, 7000);
  const args = hopRunArgs(config, flags);
  const extend = (prefix: string, more: string) =>
    args.map((a) => a.startsWith(prefix) ? `${a},${more}` : a);
  // A usual service port: the check probes likely ports, not all 65,535 (see core/sandbox.ts).
  const listen = 8080;
  const cases: [string, string[], string][] = [
    ["run", withDenoFlags(args, ["--allow-run=/bin/sh"]), "run /bin/sh"],
    ["ffi", withDenoFlags(args, [`--allow-ffi=${dir.path}`]), `ffi ${dir.path}`],
    ["env", withDenoFlags(args, ["--allow-env=HOME"]), "env HOME"],
    ["sys", withDenoFlags(args, ["--allow-sys=hostname"]), "sys hostname"],
    ["import", withDenoFlags(args, ["--allow-import=esm.sh:443"]), "import esm.sh:443"],
    ["write elsewhere", extend("--allow-write=", "/var/tmp"), "write /var/tmp"],
    [
      "write above the data directory",
      args.map((a) => a.startsWith("--allow-write=") ? `--allow-write=${dirname(dir.path)}` : a),
      `write ${dirname(dir.path)}`,
    ],
    ["read elsewhere", extend("--allow-read=", "/etc"), "read /etc"],
    [
      "listen on every interface",
      extend("--allow-net=", `0.0.0.0:${listen}`),
      `net 0.0.0.0:${listen}`,
    ],
  ];
  const results = await Promise.all(cases.map(([, a]) => exitOf(a)));
  for (const [i, [what, , grant]] of cases.entries()) {
    const { code, output } = results[i]!;
    assertEquals(code, 3, `${what}: ${output}`);
    const refusal = output.split("\n").find((l) =>
      l.includes("Refusing to start with more permissions than this hop needs:")
    );
    assert(
      refusal?.includes(`: ${grant}`) || refusal?.includes(`, ${grant}`),
      `${what}: ${output}`,
    );
    assert(!/Simulating|Status:/.test(output), `${what}: nothing may start: ${output}`);
  }
});

/**
 * Runs a hop (the push-only hop of 55 points) until its first status line,
 * stops it, checks that it exited cleanly, and returns its output.
 */
async function runsUntilStatus(args: string[]): Promise<string> {
  const hop = new Proc(args);
  try {
    await hop.waitForLine(/Status: 55 points, \d+ updates\/s/);
  } finally {
    const status = await hop.stop();
    assertEquals(status.code, 0, hop.output());
  }
  return hop.output();
}

Deno.test("a hop starts with a narrow extra grant only with --allow-broad-permissions, and says so", async () => {
  await using dir = await tempDir();
  await tlsFiles(dir.path);
  const { flags, config } = pushOnly(dir.path, freePort());
  const args = withDenoFlags(hopRunArgs(config, [...flags, "--allow-broad-permissions"]), [
    "--allow-run=/bin/sh",
  ]);
  const output = await runsUntilStatus(args);
  assert(/RUNNING WITH BROAD PERMISSIONS \(run \/bin\/sh\)/.test(output), output);
});

Deno.test("a hop runs under its derived permissions plus the deny flags hopgate build bakes in", async () => {
  await using dir = await tempDir();
  await tlsFiles(dir.path);
  const { flags, config } = pushOnly(dir.path, freePort());
  const deny = denyFlags(derivePermissions(config));
  const output = await runsUntilStatus(withDenoFlags(hopRunArgs(config, flags), deny));
  assert(!/Refusing|Missing permissions/.test(output), output);
});

Deno.test("a hop missing a permission it needs says so and does not start", async () => {
  await using dir = await tempDir();
  await tlsFiles(dir.path);
  const { flags, config } = pushOnly(dir.path, 7000);
  const args = hopRunArgs(config, flags).map((a) =>
    a.startsWith("--allow-net=") ? "--allow-net=127.0.0.1:7000" : a
  );
  const r = await runDeno(args);
  assertEquals(r.code, 3, r.stderr);
  assert(/Missing permissions: net 10\.9\.9\.9:7001/.test(r.stderr), r.stderr);
});

Deno.test("build --dry-run prints deno compile with exactly the derived permissions and the baked configuration", async () => {
  await using dir = await tempDir();
  await tlsFiles(dir.path);
  const yaml = join(dir.path, "plant1.yaml");
  await Deno.writeTextFile(
    yaml,
    `name: plant1\nsim: 10\npush: dmz=127.0.0.1:7000\ndata-dir: ${dir.path}\n`,
  );
  const r = await runHopgate([
    "build",
    "--config",
    yaml,
    "-o",
    "hopgate-plant1",
    "--dry-run",
    "--target",
    "x86_64-pc-windows-msvc",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const cmd = r.stdout.trim();
  assert(cmd.startsWith("deno compile --no-prompt "), cmd);
  assert(cmd.includes("--allow-net=127.0.0.1:7000 "), cmd);
  assert(cmd.includes(`--allow-read=${dir.path} `), cmd);
  assert(cmd.includes(`--allow-write=${dir.path} `), cmd);
  assert(cmd.includes("--target x86_64-pc-windows-msvc"), cmd);
  assert(cmd.includes(` ${hopV8Flags} `), `the hop's V8 settings are baked: ${cmd}`);
  assert(!/--allow-all|\s-A\s|--allow-net\s|--allow-(env|sys|run|ffi|import)/.test(cmd), cmd);
  // Deno flags come before the entry point; what the hop never needs is denied explicitly.
  const denoFlags = cmd.slice(0, cmd.indexOf(" run --baked ")).split(" ");
  for (const f of ["--deny-run", "--deny-ffi", "--deny-env", "--deny-sys"]) {
    assert(denoFlags.includes(f), `${f} missing: ${cmd}`);
  }
  const imports = denoDefaultImportHosts.map((h) => `${h}:443`).join(",");
  assert(denoFlags.includes(`--deny-import=${imports}`), cmd);
  assert(imports.includes("deno.land:443") && imports.includes("esm.sh:443"), imports);
  // The hop dials the dmz and writes its data directory: neither may be denied.
  assert(!/--deny-(net|read|write)/.test(cmd), cmd);
  assert(!cmd.includes("plant1.yaml"), "the binary must not need the YAML file");
  // A hop without a PLC source needs no environment of its own: none is named.
  assert(!r.stderr.includes("in its environment"), r.stderr);
  const baked = /run --baked '(.*)'$/.exec(cmd);
  assert(baked, cmd);
  assertEquals(JSON.parse(baked[1]!), {
    name: "plant1",
    sim: 10,
    push: "dmz=127.0.0.1:7000",
    dataDir: dir.path,
  });
});

Deno.test("an MQTT hop's permissions name the broker as written in the URL, its TLS files, and only ignore the variables mqtt.js probes", async () => {
  await using dir = await tempDir();
  const files = ["ca.crt", "hop.crt", "hop.key"].map((f) => join(dir.path, f));
  for (const f of files) await Deno.writeTextFile(f, "placeholder\n");
  const cfg = (url: string) =>
    resolveConfig([{
      label: null,
      baseDir: dir.path,
      values: {
        name: "it",
        sim: 1,
        "data-dir": join(dir.path, "data"),
        mqtt: url,
        "mqtt-ca": files[0],
        "mqtt-cert": files[1],
        "mqtt-key": files[2],
      },
    }]);
  const p = derivePermissions(cfg("mqtts://broker.example:8883"));
  assertEquals(p.net, ["broker.example:8883"]);
  assertEquals(p.read, [...files, join(dir.path, "data")].sort());
  assertEquals(p.env, []);
  assertEquals(p.ignoreEnv, [
    "DEBUG",
    "MQTTJS_SOCKS_PROXY",
    "READABLE_STREAM",
    "WS_NO_BUFFER_UTIL",
  ]);
  assertEquals(derivePermissions(cfg("mqtts://[::1]:8883")).net, ["[::1]:8883"]);
  assertEquals(derivePermissions(cfg("mqtts://broker.example")).net, ["broker.example:8883"]);
});

Deno.test("build --dry-run works where the hop's certificates do not exist yet, noting them", async () => {
  await using dir = await tempDir();
  const r = await runHopgate([
    "build",
    "--name",
    "plant1",
    "--sim",
    "5",
    "--push",
    "dmz=10.0.0.5:7000",
    "--data-dir",
    dir.path,
    "-o",
    "hopgate-plant1",
    "--dry-run",
  ]);
  assertEquals(r.code, 0, r.stderr);
  assert(r.stdout.startsWith("deno compile "), r.stdout);
  assert(
    /note: Cannot read --tls-cert .* here; it must exist where the hop runs/.test(r.stderr),
    r.stderr,
  );
});
