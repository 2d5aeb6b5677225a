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

/**
 * The environment a hop process is started with, for glibc's malloc:
 *
 * - `MALLOC_MMAP_THRESHOLD_`: blocks of 64 KiB and more come from the kernel
 *   and go back to it when freed, instead of glibc raising that threshold as
 *   it goes (its default) and keeping freed message buffers in a heap that
 *   fragments. An OPC UA plant hop ingesting 1,000,000 changes/s peaked at
 *   284–299 MB RSS with it against 326–366 MB without, at the same CPU; a
 *   relay forwarding 1.6 M updates/s was unchanged.
 * - `MALLOC_ARENA_MAX`: one malloc arena for all the process's threads
 *   instead of one for each thread that met another in malloc, up to eight
 *   per core (fifteen in an OPC UA hop with four threads left, holding 6.7 MB). The same OPC UA hop peaked at
 *   192–197 MB with it against 194–202 MB without (seven and ten runs), at the
 *   same CPU and ingest; a relay forwarded as much (1.65–1.66 against 1.52–1.71
 *   M updates/s) and held as much (75–76 MB anonymous at 100,000 points).
 *   A hop's JavaScript runs on one thread, so the arena's lock is seldom contended.
 *
 * A compiled binary cannot set its own allocator's environment, so the
 * systemd unit in docs/deployment.md sets it, `hopgate demo` starts its hops
 * with it, and so do the tests and benchmarks. Other C libraries ignore it.
 */
export const hopEnv: Readonly<Record<string, string>> = Object.freeze({
  MALLOC_MMAP_THRESHOLD_: "65536",
  MALLOC_ARENA_MAX: "1",
});
