/** Output shared by the benchmark scripts: aligned tables and `--json [path]` result files. */
import { join } from "node:path";

/** Rows as columns padded to the widest cell, the first row being the header. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

/**
 * With `--json [path]` in `args`, writes `doc` to `path`, or by default to
 * tests/bench/results/<name>-<time>.json (git-ignored); returns where, or
 * undefined without `--json`.
 */
export async function writeJsonResult(
  name: string,
  args: string[],
  doc: Record<string, unknown>,
): Promise<string | undefined> {
  const i = args.indexOf("--json");
  if (i < 0) return undefined;
  const given = args[i + 1];
  let path: string;
  if (given && !given.startsWith("--")) path = given;
  else {
    const dir = join(new URL(".", import.meta.url).pathname, "results");
    await Deno.mkdir(dir, { recursive: true });
    path = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  }
  await Deno.writeTextFile(
    path,
    JSON.stringify({ benchmark: name, at: new Date().toISOString(), ...doc }, null, 2) + "\n",
  );
  return path;
}
