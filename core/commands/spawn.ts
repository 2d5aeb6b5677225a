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
 * The environment a hop process is started with: what the configuration's
 * active plugins ask for (`Plugin.env`; one malloc arena for a hop reading
 * PLCs), nothing for other hops. A compiled binary cannot set its own
 * allocator's environment, so the systemd unit in docs/deployment.md sets it,
 * `hopgate build` names it, and `hopgate demo`, the tests and the benchmarks
 * start their hops with it.
 *
 * Every hop once ran with `MALLOC_MMAP_THRESHOLD_=65536` (blocks of 64 KiB and
 * more mapped from the kernel for each allocation and unmapped when freed),
 * which had cut an OPC UA hop's peak RSS when its message buffers fragmented
 * malloc's heap. That hop no longer needs it (192–194 MB peak with it,
 * 193 MB without, at 36–40% of a core instead of 41–51%), and on a virtual
 * machine where a page fault costs about 10 µs it made every large buffer a
 * fresh mapping to fault in: without it a relay process forwarded 1.00–1.66 M
 * updates/s instead of 0.56–0.77 M and a new hop held a busy chain's 100,000
 * points in 839–988 ms instead of 1,153–1,761 (docs/benchmarks.md, "Page
 * faults").
 */
export function hopEnvFor(config: HopConfig): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of plugins()) if (p.env && p.active(config)) Object.assign(env, p.env(config));
  return env;
}
