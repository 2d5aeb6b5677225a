/**
 * A source for MQTT floods in the test process: applies updates to `points`
 * Double points (`plant1/bench/p<i>`) as fast as the store takes them, in
 * slices that let the bridge publish meanwhile.
 */
import "../../adapters/all.ts";
import { MqttAdapter } from "../../adapters/mqtt/mod.ts";
import { resolveConfig, sleep, Status } from "../../core/mod.ts";
import { Hop } from "../../core/hop.ts";
import { HandSource } from "./hand_source.ts";
import { waitFor } from "./helpers.ts";

/** The id of flood point `i`. */
export const floodId = (i: number): string => `plant1/bench/p${i}`;

/** A hand-driven source of `points` Double points. */
export class FloodSource extends HandSource {
  constructor(readonly points: number) {
    super("bench", "bench");
  }

  /** Sets point `i` to `value` (a Good Double), at `time`. */
  set(i: number, value: number, time = Date.now()): void {
    this.ctx!.apply({
      id: floodId(i),
      value,
      type: "Double",
      status: Status.Good,
      time,
      hops: [],
      cause: null,
    });
  }

  /**
   * Applies `n` updates, update `j` setting point `j % points` to `from + j`,
   * 5,000 at a time with a turn of the event loop between; returns each point's
   * last value (by index).
   */
  async run(n: number, from: number): Promise<number[]> {
    const last: number[] = [];
    for (let k = 0; k < n; k += 5000) {
      const now = Date.now();
      for (let j = k; j < Math.min(n, k + 5000); j++) {
        const i = j % this.points;
        last[i] = from + j;
        this.set(i, from + j, now);
      }
      await sleep(0);
    }
    return last;
  }
}

/**
 * Starts hop plant1 in this process with a flood source of `points` points and
 * the MQTT bridge to a plain broker port (`values` adds or overrides options);
 * resolves once the bridge is connected; `await using` stops the hop.
 */
export async function floodHop(
  dir: string,
  brokerPort: number,
  points: number,
  values: Record<string, unknown> = {},
): Promise<{ hop: Hop; source: FloodSource; mqtt: MqttAdapter } & AsyncDisposable> {
  const config = resolveConfig([{
    label: null,
    baseDir: dir,
    values: {
      name: "plant1",
      sim: 1, // the configuration needs a source; the hop runs the flood source instead
      "data-dir": `${dir}/hop`,
      mqtt: `mqtt://127.0.0.1:${brokerPort}`,
      "mqtt-allow-plaintext": true,
      "status-interval": 0,
      ...values,
    },
  }]);
  const source = new FloodSource(points);
  const mqtt = new MqttAdapter();
  const hop = new Hop(config, [source, mqtt]);
  await hop.start();
  try {
    // Connected is not yet taking data: its births (Sparkplug) come first, and what a flood sends
    // meanwhile goes to the disk buffer (a flood test once saw 10,001 updates spilled). The bridge
    // sets its status point once the session takes data.
    await waitFor(
      "the broker session to take data",
      () => hop.store.get(`${config.name}/$mqtt/connected`)?.value === true,
    );
  } catch (e) {
    await hop.stop("no broker session");
    throw e;
  }
  return { hop, source, mqtt, [Symbol.asyncDispose]: () => hop.stop("test over") };
}
