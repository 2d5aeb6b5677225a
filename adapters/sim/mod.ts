/**
 * The simulated source: `--sim N` points for demos, tests and benchmarks,
 * with values that are a function of a seed, a point and a change number,
 * so a test can tell a mirrored value from a wrong one.
 *
 * @example The points a plant hop with `--sim 3` holds, and a value a point takes
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { simPoint, simValue } from "./mod.ts";
 *
 * assertEquals(simPoint("plant1", 0).id.startsWith("plant1/sim/"), true);
 * assertEquals(simValue(1, 0, 5), simValue(1, 0, 5)); // the same seed, point and change: the same value
 * ```
 *
 * @module
 */
import type { Adapter, HopConfig, Plugin } from "../../core/mod.ts";
import { simOptions } from "./options.ts";
import { SimSource } from "./sim_source.ts";

export { simKinds, simPoint, SimSource, simValue } from "./sim_source.ts";

/** The simulator adapter the configuration asks for, if any. */
export function simAdapters(config: HopConfig): Adapter[] {
  if (config.sim === 0) return [];
  return [new SimSource({ points: config.sim, rate: config.simRate, seed: config.simSeed })];
}

/** The simulator plugin (adapters/all.ts registers it). */
export const simPlugin: Plugin = {
  name: "sim",
  options: simOptions,
  activatedBy: "--sim",
  active: (c) => c.sim > 0,
  permissions: () => ({}),
  adapters: simAdapters,
};

export { type SimConfig, simOptions } from "./options.ts";
