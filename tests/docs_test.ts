/** The README documents every flag, and the example configurations are valid. */
import "../adapters/all.ts";
import { ok as assert } from "node:assert";
import { ConfigError, optionInfos, readConfigFile, resolveConfig } from "../core/mod.ts";

const root = new URL("../", import.meta.url).pathname;

Deno.test("the README's flag reference lists every flag", async () => {
  const readme = await Deno.readTextFile(`${root}README.md`);
  const missing = optionInfos().filter((i) => !readme.includes(`\`${i.flag}`)).map((i) => i.flag);
  assert(missing.length === 0, `README lacks: ${missing.join(", ")}`);
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
