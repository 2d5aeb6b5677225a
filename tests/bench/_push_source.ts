/**
 * The source of the benchmarks that measure one hop process on its own: a
 * hop `gen` in the benchmark's process whose points a script sets by hand,
 * pushing them over mutual TLS to the hop measured (named `dmz` in the
 * chain's certificates).
 */
import { Hop, type HopConfig, sleep } from "../../core/mod.ts";
import { tunnelAdapters } from "../../tunnel/mod.ts";
import { hopConfig } from "../kit/hops.ts";
import { HandSource } from "../kit/hand_source.ts";

/** Point `i` of the source: ids shaped like a PLC's (`gen/line<i % 10>/tag<i>`). */
export const pointId = (i: number) => `gen/line${i % 10}/tag${i}`;

/** The value point `i` takes in round `r`: every round changes every point. */
export const roundValue = (r: number, i: number) => r + i * 0.5;

/** Applies round `r` to every point, 5,000 at a time with a turn of the event loop between. */
export async function applyRound(source: HandSource, points: number, r: number): Promise<void> {
  for (let k = 0; k < points; k += 5000) {
    const time = Date.now();
    for (let i = k; i < Math.min(points, k + 5000); i++) {
      source.apply({ id: pointId(i), value: roundValue(r, i), type: "Double", time });
    }
    await sleep(0);
  }
}

/** Starts the source hop `gen` in this process, pushing to 127.0.0.1:`port`. */
export async function startSource(
  dir: string,
  port: number,
): Promise<{ source: HandSource; hop: Hop } & AsyncDisposable> {
  const { config } = hopConfig(dir, "gen", [
    "--push",
    `dmz=127.0.0.1:${port}`,
    "--status-interval",
    "0",
  ]) as { config: HopConfig };
  const source = new HandSource("bench", "bench");
  const hop = new Hop(config, [source, ...tunnelAdapters(config)]);
  await hop.start();
  return { source, hop, [Symbol.asyncDispose]: () => hop.stop("bench done") };
}
