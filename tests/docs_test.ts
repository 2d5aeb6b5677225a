/**
 * The README documents every flag, the example configurations are valid, and
 * the systemd unit runs hops in the environment the demo and benchmarks use.
 */
import "../adapters/all.ts";
import { ok as assert } from "node:assert";
import { ConfigError, hopEnvFor, optionInfos, readConfigFile, resolveConfig } from "../core/mod.ts";

const root = new URL("../", import.meta.url).pathname;

Deno.test("the README's flag reference lists every flag", async () => {
  const readme = await Deno.readTextFile(`${root}README.md`);
  const missing = optionInfos().filter((i) => !readme.includes(`\`${i.flag}`)).map((i) => i.flag);
  assert(missing.length === 0, `README lacks: ${missing.join(", ")}`);
});

Deno.test("the systemd unit in docs/deployment.md sets the environment of its hop, which reads a PLC (hopEnvFor)", async () => {
  const doc = await Deno.readTextFile(`${root}docs/deployment.md`);
  const unit = /```ini\n(\[Unit\][\s\S]*?)```/.exec(doc)?.[1] ?? "";
  assert(
    /^ExecStart=\/usr\/local\/bin\/hopgate-plant1$/m.test(unit),
    "no systemd unit of hopgate-plant1 found in docs/deployment.md",
  );
  const plant1 = resolveConfig([{
    label: null,
    baseDir: "/tmp",
    values: { name: "plant1", opcua: ["plc1=opc.tcp://10.0.0.20:4840"], "data-dir": "/tmp/x" },
  }]);
  const env = hopEnvFor(plant1);
  assert("MALLOC_ARENA_MAX" in env, "a PLC source adds its own variables");
  for (const [k, v] of Object.entries(env)) {
    assert(
      unit.split("\n").includes(`Environment=${k}=${v}`),
      `the unit lacks Environment=${k}=${v}`,
    );
  }
  // Nor does it set what the hop does not ask for (a variable dropped from the hops' environment).
  for (const line of unit.split("\n").filter((l) => l.startsWith("Environment="))) {
    const [k, v] = line.slice("Environment=".length).split("=");
    assert(env[k!] === v, `the unit sets ${line}, which hopgate build does not name for plant1`);
  }
});

/**
 * Files each example configuration names that are made at deployment, on the
 * hop's host (configs/README.md says how), so they cannot exist here.
 */
const deploymentFiles: Record<string, string[]> = {
  plant1: ["tls-cert", "tls-key", "tls-ca", "opcua-password-file"],
  dmz: ["tls-cert", "tls-key", "tls-ca"],
  it: ["tls-cert", "tls-key", "tls-ca", "mqtt-ca", "mqtt-cert", "mqtt-key", "opcua-users"],
};

/** The key a "Cannot read" problem names: `--tls-cert "…"` or `"mqtt-ca" in file "…"`. */
function unreadableKey(problem: string): string | null {
  return /^Cannot read (?:--([a-z-]+) |"([a-z-]+)" in )/.exec(problem)?.slice(1).find(Boolean) ??
    null;
}

Deno.test("the example configurations are valid apart from files made at deployment", () => {
  for (const [name, allowed] of Object.entries(deploymentFiles)) {
    const path = `${root}configs/${name}.yaml`;
    const values = readConfigFile(path);
    try {
      resolveConfig([{ label: path, baseDir: `${root}configs`, values }]);
    } catch (e) {
      assert(e instanceof ConfigError, String(e));
      const other = e.problems.filter((p) => !allowed.includes(unreadableKey(p) ?? ""));
      assert(other.length === 0, `${name}.yaml: ${other.join("\n")}`);
    }
  }
});

/** The paths in the README's layout table (`| \`core/\` | ... |`). */
function layoutRows(readme: string): string[] {
  const section = readme.split(/^## Layout$/m)[1]?.split(/^## /m)[0] ?? "";
  return [...section.matchAll(/^\| `([^`]+)` +\|/gm)].map((m) => m[1]!);
}

/** Folders that are not the repository's own: made by runs, installs or git. */
const notOurs = new Set(["node_modules", ".git", "tests/bench/results"]);

/** The repository's folders, two levels deep, as `core/config`. */
async function folders(): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, depth: number) => {
    for await (const e of Deno.readDir(`${root}${dir}`)) {
      const path = `${dir}${e.name}`;
      if (!e.isDirectory || notOurs.has(path) || e.name.startsWith("hopgate-")) continue;
      out.push(path);
      if (depth < 2) await walk(`${path}/`, depth + 1);
    }
  };
  await walk("", 1);
  return out.sort();
}

Deno.test("the README's layout table names every folder, and every path it names exists", async () => {
  const rows = layoutRows(await Deno.readTextFile(`${root}README.md`));
  assert(rows.length > 10, `found only ${rows.length} rows under "## Layout"`);
  const gone = [];
  for (const row of rows) {
    try {
      await Deno.stat(`${root}${row}`);
    } catch {
      gone.push(row);
    }
  }
  assert(gone.length === 0, `the layout table names what is not there: ${gone.join(", ")}`);
  const missing = (await folders()).filter((f) => !rows.some((r) => r.startsWith(`${f}/`)));
  assert(missing.length === 0, `the layout table lacks: ${missing.join(", ")}`);
});

Deno.test("every public module has a documented, runnable example and is in the doc tasks", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(`${root}deno.json`)).tasks;
  const modules = ["core/mod.ts", "tunnel/mod.ts"];
  for await (const e of Deno.readDir(`${root}adapters`)) {
    if (e.isDirectory) modules.push(`adapters/${e.name}/mod.ts`);
  }
  for (const m of modules) {
    const text = await Deno.readTextFile(`${root}${m}`);
    assert(/@example[^\n]*\n \* ```ts\n/.test(text), `${m} has no @example with a ts block`);
    for (const task of ["doclint", "examples"]) {
      const covered = tasks[task].includes(m) ||
        (m.startsWith("adapters/") && tasks[task].includes("adapters/*/mod.ts"));
      assert(covered, `deno task ${task} does not cover ${m}`);
    }
  }
  assert(tasks.ok.includes("deno task doclint") && tasks.ok.includes("deno task examples"));
});
