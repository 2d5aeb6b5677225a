/**
 * `hopgate demo`: a simulated plant hop started as its own process under its
 * derived permissions, so a newcomer sees a hop working and what it may do.
 */
import { join } from "node:path";
import { resolveConfig } from "./config/mod.ts";
import { derivePermissions, describePermissions } from "./permissions.ts";
import { hopRunArgs } from "./spawn.ts";

/** Runs the demo until Ctrl+C or `seconds` elapse; returns the exit code. */
export async function runDemo(options: { seconds?: number; points?: number } = {}) {
  const dir = await Deno.makeTempDir({ prefix: "hopgate-demo-" });
  const flags = [
    "--name",
    "plant1",
    "--sim",
    String(options.points ?? 1000),
    "--sim-rate",
    "5000",
    "--data-dir",
    join(dir, "plant1"),
    "--status-interval",
    "2s",
  ];
  const config = resolveConfig([{ label: null, baseDir: dir, values: toValues(flags) }]);
  console.log("hopgate demo: a simulated plant hop, 1000 points changing 5000 times/s");
  console.log(`sandbox of hop plant1: ${describePermissions(derivePermissions(config))}`);
  console.log("Press Ctrl+C to stop.\n");
  const child = new Deno.Command(Deno.execPath(), {
    args: hopRunArgs(config, flags),
    stdin: "null",
  }).spawn();
  const stop = () => child.kill("SIGTERM");
  Deno.addSignalListener("SIGINT", stop);
  const timer = options.seconds ? setTimeout(stop, options.seconds * 1000) : undefined;
  const status = await child.status;
  clearTimeout(timer);
  Deno.removeSignalListener("SIGINT", stop);
  await Deno.remove(dir, { recursive: true });
  return status.code;
}

/** `["--name","x","--sim","5"]` → `{ name: "x", sim: "5" }`. */
function toValues(flags: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flags.length; i += 2) out[flags[i]!.slice(2)] = flags[i + 1]!;
  return out;
}
