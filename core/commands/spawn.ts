/**
 * Running a hop as its own process under exactly its derived permissions:
 * how the demo starts hops and how tests catch a missing or excess permission.
 */
import type { HopConfig } from "../config/mod.ts";
import { hopV8FlagsFor } from "./build.ts";
import { derivePermissions, permissionFlags } from "../permissions.ts";
import { plugins } from "../plugin.ts";

/** The entry point of the hopgate program. */
export const mainModule: string = new URL("../../main.ts", import.meta.url).pathname;

/**
 * The `deno run` arguments that start a hop with exactly the permissions its
 * configuration needs. `flags` are the hop's own flags (as given on the command line).
 */
export function hopRunArgs(
  config: HopConfig,
  flags: string[],
  options: { configFile?: string } = {},
): string[] {
  return [
    "run",
    ...permissionFlags(derivePermissions(config, options)),
    hopV8FlagsFor(config),
    mainModule,
    "run",
    ...flags,
  ];
}

/**
 * The environment every hop process is started with: glibc's malloc takes
 * blocks of 64 KiB and more from the kernel and gives them back when freed,
 * instead of raising that threshold as it goes (its default) and keeping
 * freed message buffers in a heap that fragments. An OPC UA plant hop
 * ingesting 1,000,000 changes/s peaked at 284–299 MB RSS with it against
 * 326–366 MB without, at the same CPU; a relay forwarding 1.6 M updates/s was
 * unchanged. A compiled binary cannot set its own allocator's environment,
 * so the systemd unit in docs/deployment.md sets it, `hopgate demo` starts
 * its hops with it, and so do the tests and benchmarks. Other C libraries
 * ignore it. Adapters add their own ({@link hopEnvFor}).
 */
export const hopEnv: Readonly<Record<string, string>> = Object.freeze({
  MALLOC_MMAP_THRESHOLD_: "65536",
});

/** {@link hopEnv} with what the configuration's active plugins add (`Plugin.env`). */
export function hopEnvFor(config: HopConfig): Record<string, string> {
  const env: Record<string, string> = { ...hopEnv };
  for (const p of plugins()) if (p.env && p.active(config)) Object.assign(env, p.env(config));
  return env;
}
