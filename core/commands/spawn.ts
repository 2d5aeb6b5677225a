/**
 * Running a hop as its own process under exactly its derived permissions:
 * how the demo starts hops and how tests catch a missing or excess permission.
 */
import type { HopConfig } from "../config/mod.ts";
import { hopV8FlagsFor } from "./build.ts";
import { derivePermissions, permissionFlags } from "../permissions.ts";

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
