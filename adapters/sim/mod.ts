/** The simulated source: `--sim N` points for demos, tests and benchmarks. */
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

export type { SimConfig } from "./options.ts";
