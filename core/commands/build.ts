/**
 * `hopgate build`: one hop's binary, compiled with exactly the permissions its
 * configuration needs and the configuration itself baked in as defaults.
 */
import type { HopConfig } from "../config/mod.ts";
import { mergeLayers } from "../config/mod.ts";
import type { GivenConfig } from "../config/flags.ts";
import { derivePermissions, permissionFlags, type PermissionSet } from "../permissions.ts";
import { denoDefaultImportHosts } from "../sandbox.ts";
import { plugins } from "../plugin.ts";

/**
 * V8 settings every hop runs with (baked into binaries, passed by `deno run`
 * where hops are started from source): the old generation grows by 50% of
 * what survived a collection instead of V8's default of up to 4×, and the
 * young generation stays at 8 MB semi-spaces. Measured on the relay benchmark
 * (100,000 points, 1 M updates/s): peak RSS 235 → 180–192 MB with forwarding
 * unchanged at 1.0 M/s paced. 30% growth saved a few MB more but cost the
 * MQTT-publishing hop throughput and the 100,000-point snapshot 15–20% (more
 * collections while it allocates the set); `--optimize-for-size` and
 * `--lite-mode` reach 133–158 MB at 35–90% less throughput. `--expose-gc` lets
 * a hop that goes quiet after a load give memory back (core/memory_release.ts)
 * and a PLC source pace young-generation collections (core/young_collection.ts).
 * V8 keeps the pages a collection frees in a pool for 8 s before it gives them
 * back; one second is enough to reuse them under a steady load: a relay
 * forwarding 100,000 points unpaced held 106 MB anonymous instead of 119–132,
 * at the same rate, and an OPC UA hop ingesting 1,000,000 changes/s peaked at
 * 262 MB RSS instead of 285–301 (the pages of its subscription phase went
 * sooner).
 */
export const hopV8Flags =
  "--v8-flags=--heap-growing-percent=50,--max-semi-space-size=8,--expose-gc,--memory-pool-timeout=1";

/**
 * The `--v8-flags=` argument of a hop with this configuration: {@link hopV8Flags},
 * with the settings active plugins ask for (`Plugin.v8Flags`) replacing the
 * defaults of the same name; the later plugin wins between plugins.
 */
export function hopV8FlagsFor(config: HopConfig): string {
  const flags = new Map<string, string>();
  const add = (f: string) => flags.set(f.split("=")[0]!, f);
  hopV8Flags.slice("--v8-flags=".length).split(",").forEach(add);
  for (const p of plugins()) if (p.v8Flags && p.active(config)) p.v8Flags(config).forEach(add);
  return `--v8-flags=${[...flags.values()].join(",")}`;
}

/**
 * Explicit denials baked into a hop's binary for what it never needs, so that
 * `--dry-run` states the whole sandbox: running programs, loading native
 * libraries, importing code, and network, environment or system information
 * when the configuration needs none. Imports are denied host by host because
 * Deno 2.9.6 keeps its default import hosts under a bare `--deny-import`.
 */
export function denyFlags(p: PermissionSet): string[] {
  const imports = denoDefaultImportHosts.map((h) => `${h}:443`).join(",");
  const flags = ["--deny-run", "--deny-ffi", `--deny-import=${imports}`];
  for (const kind of ["net", "env", "sys"] as const) {
    if (p[kind].length === 0) flags.push(`--deny-${kind}`);
  }
  return flags;
}

/** What `deno compile` needs beyond the configuration. */
export interface BuildOptions {
  /** Output binary path. */
  output: string;
  /** `deno compile --target`, for cross-compiling (e.g. x86_64-pc-windows-msvc). */
  target?: string;
  /** The program's entry point (main.ts). */
  entry: string;
}

/**
 * The full `deno compile` argument list. The configuration is baked as
 * `run --baked <json>` with an absolute data directory, so the binary runs the
 * hop with no arguments and flags given at run time still override it.
 */
export function compileArgs(
  config: HopConfig,
  given: GivenConfig,
  options: BuildOptions,
): string[] {
  const { values } = mergeLayers(given.layers);
  const baked = { ...values, dataDir: config.dataDir };
  // The binary reads no configuration file: it is baked in. Its npm packages are embedded.
  const perms = derivePermissions(config, { embeddedPackages: true });
  const args = ["compile", ...permissionFlags(perms), ...denyFlags(perms), hopV8FlagsFor(config)];
  if (options.target) args.push("--target", options.target);
  args.push("--output", options.output, options.entry, "run", "--baked", JSON.stringify(baked));
  return args;
}

/** Quotes an argument for a POSIX shell when it needs it. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}
