/** The README documents every flag, and the example configurations are valid. */
import { ok as assert } from "node:assert";
import { ConfigError, optionInfos, readConfigFile, resolveConfig } from "../core/mod.ts";

const root = new URL("../", import.meta.url).pathname;

Deno.test("the README's flag reference lists every flag", async () => {
  const readme = await Deno.readTextFile(`${root}README.md`);
  const missing = optionInfos().filter((i) => !readme.includes(`\`${i.flag}`)).map((i) => i.flag);
  assert(missing.length === 0, `README lacks: ${missing.join(", ")}`);
});

Deno.test("the example configurations are valid apart from certificates made at deployment", () => {
  for (const name of ["plant1", "dmz", "it"]) {
    const path = `${root}configs/${name}.yaml`;
    const values = readConfigFile(path);
    try {
      resolveConfig([{ label: path, baseDir: `${root}configs`, values }]);
    } catch (e) {
      assert(e instanceof ConfigError, String(e));
      const other = e.problems.filter((p) => !/^Cannot read --tls-(cert|key|ca) /.test(p));
      assert(other.length === 0, `${name}.yaml: ${other.join("\n")}`);
    }
  }
});
