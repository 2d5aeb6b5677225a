/** Options of the simulated source. */
import { int, option, type OptionValues } from "../../core/mod.ts";

/** The simulated source's options: how many points, how fast, which seed. */
export const simOptions = {
  sim: option(int(0, 10_000_000).default(0), {
    group: "Simulator",
    arg: "<points>",
    help: "Run the built-in simulated source with this many points of mixed types",
  }),
  simRate: option(int(1, 100_000_000).default(1000), {
    group: "Simulator",
    arg: "<updates/s>",
    help: "Total point changes per second made by the simulator",
  }),
  simSeed: option(int(0, 2 ** 32 - 1).default(1), {
    group: "Simulator",
    arg: "<seed>",
    help: "Seed of the simulator's values, so runs are repeatable",
  }),
};

/** The simulator's settings. */
export type SimConfig = OptionValues<typeof simOptions>;

declare module "../../core/config/mod.ts" {
  /** The simulator's settings are part of every hop's configuration. */
  interface HopConfig extends SimConfig {}
}
