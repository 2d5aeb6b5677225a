/**
 * node-opcua is heavy (about 1 s and 110 MB): only a hop that uses OPC UA may
 * load it. Its package folders granted to OPC UA server hops must be the
 * ones the lock file pins.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import {
  derivePermissions,
  hopV8Flags,
  mainModule,
  permissionFlags,
  resolveConfig,
  withRealPaths,
} from "../core/mod.ts";
import "../adapters/all.ts";
import { opcuaServerNeeds, opcuaServerPackages } from "../adapters/opcua/mod.ts";
import { freePort, runDeno, runHopgate, tempDir } from "./kit/helpers.ts";

interface GraphModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

/** Modules reachable from main.ts through static imports only, and through any import. */
async function reachable(): Promise<{ static: Set<string>; all: Set<string> }> {
  const r = await runDeno(["info", "--json", mainModule]);
  assertEquals(r.code, 0, r.stderr);
  const graph = JSON.parse(r.stdout) as {
    roots: string[];
    modules: GraphModule[];
    redirects: Record<string, string>;
  };
  const byId = new Map(graph.modules.map((m) => [m.specifier, m]));
  const walk = (followDynamic: boolean) => {
    const seen = new Set<string>();
    const todo = [...graph.roots];
    while (todo.length > 0 && seen.size < 100_000) {
      const id = todo.pop()!;
      const resolved = graph.redirects[id] ?? id;
      if (seen.has(resolved)) continue;
      seen.add(resolved);
      for (const d of byId.get(resolved)?.dependencies ?? []) {
        if (d.code && (followDynamic || !d.isDynamic)) todo.push(d.code.specifier);
      }
    }
    return seen;
  };
  return { static: walk(false), all: walk(true) };
}

Deno.test("a hop without OPC UA never loads node-opcua: main.ts reaches it only through the adapter's dynamic imports", async () => {
  const { static: statically, all } = await reachable();
  const opcua = (ids: Set<string>) => [...ids].filter((s) => /node-opcua/.test(s));
  assertEquals(opcua(statically), []);
  assert(opcua(all).length > 0, "the OPC UA adapter's dynamic imports reach node-opcua");
  // The only dynamic imports are in start() of the adapters (see adapters/opcua/mod.ts).
  const mod = await Deno.readTextFile(new URL("../adapters/opcua/mod.ts", import.meta.url));
  assertEquals(mod.match(/await import\("[^"]+"\)/g), [
    'await import("./opcua_client.ts")',
    'await import("./opcua_server.ts")',
  ]);
});

Deno.test("the package folders granted to an OPC UA server hop are the versions deno.lock pins", async () => {
  const lock = JSON.parse(
    await Deno.readTextFile(new URL("../deno.lock", import.meta.url)),
  ) as { npm: Record<string, unknown> };
  for (const p of opcuaServerPackages) assert(p in lock.npm, `${p} is not in deno.lock`);
  for (const path of opcuaServerNeeds.read) {
    assert(existsSync(path), `${path} does not exist; run deno install`);
  }
  // Each package folder, and its real path where a symlink leads elsewhere.
  assert(opcuaServerNeeds.read.length >= opcuaServerPackages.length, opcuaServerNeeds.read.join());
  assert(opcuaServerNeeds.read.length <= 2 * opcuaServerPackages.length);
});

Deno.test("a package folder reached through a symlink is granted by its real path too", async () => {
  await using dir = await tempDir();
  const real = join(dir.path, "store", "pkg@1.0.0");
  await Deno.mkdir(real, { recursive: true });
  await Deno.symlink(join(dir.path, "store"), join(dir.path, "linked"));
  const viaLink = join(dir.path, "linked", "pkg@1.0.0");
  const missing = join(dir.path, "missing");
  const realDir = await Deno.realPath(real);
  assertEquals(withRealPaths([viaLink, missing, realDir]), [viaLink, realDir, missing, realDir]);
  // A sandboxed reader granted only the link path is refused a file reached by its real path,
  // which is how npm packages find their own files; granted both, it reads it.
  await Deno.writeTextFile(join(real, "package.json"), "{}");
  const probe = join(dir.path, "read.ts");
  await Deno.writeTextFile(probe, "Deno.readTextFileSync(Deno.args[0]!);\n");
  const file = join(realDir, "package.json");
  const refused = await runDeno(["run", "--no-prompt", `--allow-read=${viaLink}`, probe, file]);
  assert(
    /NotCapable/.test(refused.stderr),
    `read by its real path without its grant: ${refused.stderr}`,
  );
  const granted = withRealPaths([viaLink]).join(",");
  const ok = await runDeno(["run", "--no-prompt", `--allow-read=${granted}`, probe, file]);
  assertEquals(ok.code, 0, ok.stderr);
});

Deno.test("a plant hop reading a PLC may dial only the PLC and reads no package folders; a server hop may", async () => {
  await using dir = await tempDir();
  const base = { name: "plant1", "data-dir": dir.path, opcua: "plc1=opc.tcp://10.0.0.20:4840" };
  const plant = derivePermissions(
    resolveConfig([{ label: null, baseDir: dir.path, values: base }]),
  );
  assertEquals(plant.net, ["10.0.0.20:4840"]);
  assertEquals(plant.read, [dir.path]);
  assertEquals(plant.write, [dir.path]);
  assertEquals(plant.sys, ["homedir", "hostname", "uid"]);
  assert(plant.env.includes("NODEOPCUA*") && !plant.env.includes("HOME"), plant.env.join());
  const probe = fileURLToPath(new URL("./fixtures/try_listen.ts", import.meta.url));
  for (const addr of ["0.0.0.0:4840", `127.0.0.1:${freePort()}`]) {
    const r = await runDeno(["run", ...permissionFlags(plant), probe, addr]);
    assertEquals(r.stdout.trim(), "REFUSED NotCapable", `listening on ${addr}: ${r.stderr}`);
  }

  await Deno.writeTextFile(join(dir.path, "users.json"), "{}");
  const server = derivePermissions(resolveConfig([{
    label: null,
    baseDir: dir.path,
    values: { ...base, "opcua-server": "127.0.0.1:4841" },
  }]));
  assertEquals(server.net, ["10.0.0.20:4840", "127.0.0.1:4841"]);
  assertEquals(server.read, [dir.path, ...opcuaServerNeeds.read].sort());
  assertEquals(server.sys, ["homedir", "hostname", "networkInterfaces", "uid"]);
});

Deno.test("build --dry-run of an OPC UA server hop grants its library needs but no package folders (they are embedded)", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "users.json"), "{}");
  const r = await runHopgate([
    "build",
    "--name",
    "it",
    "--opcua",
    "plc1=opc.tcp://10.0.0.20:4840",
    "--opcua-server",
    "127.0.0.1:4841",
    "--data-dir",
    dir.path,
    "-o",
    "hopgate-it",
    "--dry-run",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const cmd = r.stdout.trim();
  assert(cmd.includes("--allow-net=10.0.0.20:4840,127.0.0.1:4841 "), cmd);
  assert(cmd.includes(`--allow-read=${dir.path} `), cmd);
  assert(!cmd.includes("node_modules"), cmd);
  assert(/--allow-env=\S*NODEOPCUA\*/.test(cmd), cmd);
  assert(cmd.includes("--allow-sys=homedir,hostname,networkInterfaces,uid "), cmd);
  // The hop's V8 settings are baked, once, with the heap growth a PLC source asks for.
  const v8 = cmd.split(" ").filter((a) => a.startsWith("--v8-flags="));
  assertEquals(
    v8,
    [hopV8Flags.replace("--heap-growing-percent=50", "--heap-growing-percent=15")],
    cmd,
  );
  // And the environment a PLC source runs with, which the binary cannot set itself.
  assert(
    r.stderr.includes("with MALLOC_ARENA_MAX=1 in its environment"),
    r.stderr,
  );
});
