/**
 * Heap of the Sparkplug edge node under point churn: 1,000 stable points,
 * and rounds of 1,000 new point ids that are born, updated and removed again
 * (900 beside the stable points, 100 in a device of their own), published
 * through the edge node to a session that drops every message. Prints the
 * heap after a garbage collection once warmed up and at the end, and the
 * growth per 1,000 distinct ids (the soak's 40 minutes made 128,000).
 *
 *     deno run -A --v8-flags=--expose-gc tests/bench/sparkplug_churn_heap.ts [rounds]
 */
import {
  adapterContext,
  copyPoint,
  type HopConfig,
  logger,
  ManualClock,
  type Point,
  PointStore,
  Status,
} from "../../core/mod.ts";
import type { MqttSession } from "../../adapters/mqtt/mqtt_format.ts";
import { SparkplugEdge } from "../../adapters/mqtt/sparkplug_edge.ts";

const rounds = Number(Deno.args[0] ?? 128);
const warmup = 8;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  throw new Error("Run with --v8-flags=--expose-gc so the heap is measured after a collection");
}

const session: MqttSession = {
  ready: false,
  publish: () => Promise.resolve(),
  subscribe: () => Promise.resolve(),
  restart: () => {},
};
const dir = await Deno.makeTempDir();
const clock = new ManualClock();
const store = new PointStore("it");
const config = { mqttGroup: "hopgate", mqttEdgeNode: "it", dataDir: dir } as unknown as HopConfig;
const ctx = adapterContext({ name: "mqtt", kind: "mqtt" }, {
  hop: "it",
  config,
  store,
  clock,
  signal: new AbortController().signal,
  log: logger("bench"),
  write: () => Promise.resolve(Status.BadNotWritable),
});
const edge = new SparkplugEdge({
  ctx,
  effective: { maxPayload: 0, retain: false, batch: false, batchTopic: "", username: undefined },
  qos: 0,
});
// Wired as the bridge wires it; an edge node without the removal hook is measured as it is.
const removed = (edge as { removed?: (id: string) => void }).removed?.bind(edge);
let pending: Point[] = [];
store.subscribe({
  onUpdate: (p) => pending.push(copyPoint(p, [])),
  onRemove: (p) => removed?.(p.id),
});
const point = (id: string, value: number): Point => ({
  id,
  value,
  type: "Double",
  status: value % 7 === 0 ? Status.BadOutOfService : Status.Good,
  time: clock.now(),
  hops: [],
  cause: null,
});
const publish = async () => {
  const batch = pending;
  pending = [];
  await edge.publish(session, batch, false);
};
const settle = async () => {
  clock.advance(300);
  await edge.tick(session);
};

for (let i = 0; i < 1000; i++) ctx.apply(point(`line2/gen/load/${i}`, i));
pending = [];
edge.will(); // as the bridge does before it connects
await edge.online(session);

const heapMb = () => {
  gc();
  return Deno.memoryUsage().heapUsed / 1e6;
};
let before = 0;
const started = performance.now();
for (let r = 0; r < rounds; r++) {
  if (r === warmup) before = heapMb();
  const ids = [
    ...Array.from({ length: 900 }, (_, i) => `line2/gen/burst/${r}/${i}`),
    ...Array.from({ length: 100 }, (_, i) => `churn${r}/dev/${i}`),
  ];
  for (const [i, id] of ids.entries()) ctx.apply(point(id, i));
  await publish();
  await settle();
  for (const [i, id] of ids.entries()) ctx.apply(point(id, i + 1));
  await publish();
  for (const id of ids) store.remove(id);
  await publish();
  await settle();
}
const after = heapMb();
const ids = (rounds - warmup) * 1000;
console.log(
  `Sparkplug edge node churn: ${rounds} rounds of 1,000 new ids (${rounds * 1000} in all) in ${
    ((performance.now() - started) / 1000).toFixed(1)
  } s`,
);
console.log(
  `heap after round ${warmup}: ${before.toFixed(1)} MB; after round ${rounds}: ${
    after.toFixed(1)
  } MB; growth ${(after - before).toFixed(1)} MB over ${ids} ids (${
    ((after - before) * 1000 / ids * 1000).toFixed(0)
  } bytes per id)`,
);
const sizes = (edge as { sizes?: unknown }).sizes;
if (sizes !== undefined) console.log(`tables: ${JSON.stringify(sizes)}`);
await Deno.remove(dir, { recursive: true });
