/**
 * What the status endpoint costs a hop holding many points: one /metrics
 * scrape (metrics and their text) and one status-page view (with and without
 * a search), each a pass over the store that holds the hop's event loop.
 *
 *     deno run -A tests/bench/status_bench.ts [points]
 *
 * Prints the median of 9 runs of each, in ms; never fails for being slow.
 */
import { exposition, hopMetrics } from "../../adapters/status/metrics.ts";
import { statusView } from "../../adapters/status/status_view.ts";
import { PointStore, Status } from "../../core/mod.ts";

const points = Number(Deno.args[0] ?? 100_000);
const store = new PointStore("it");
const hops = ["plant1", "dmz"];
for (let i = 0; i < points; i++) {
  // A tenth of the points lost upstream, the rest good.
  const lost = i % 10 === 0;
  store.apply({
    id: `plant1/plc/Line${i % 50}/Tag${i}`,
    value: i * 0.5,
    type: "Double",
    status: lost ? Status.UncertainNoCommunicationLastUsableValue : Status.Good,
    time: Date.now(),
    hops,
    cause: lost ? { hop: "dmz", via: "link:plant1", since: Date.now(), reason: "cut" } : null,
  }, "link:dmz");
}

function median(f: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < 9; i++) {
    const t = performance.now();
    f();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[4]!;
}

const statuses = [{
  name: "link:dmz",
  kind: "link",
  run: "running" as const,
  connection: "connected" as const,
  since: Date.now(),
  lastError: null,
  peer: { name: "dmz", side: "upstream" as const },
  counters: { points_received: points },
}];
const scrape = median(() =>
  exposition(hopMetrics({
    hop: "it",
    store,
    statuses,
    version: "0",
    protocol: 3,
    memory: Deno.memoryUsage(),
  }))
);
const view = (q: string) =>
  median(() =>
    JSON.stringify(statusView({ hop: "it", store, statuses, rates: {}, now: Date.now() }, q))
  );
console.log(
  `${points} points (a tenth not Good): /metrics ${scrape.toFixed(1)} ms, page view ${
    view("").toFixed(1)
  } ms, page view searching "line7" ${view("line7").toFixed(1)} ms (medians of 9)`,
);
