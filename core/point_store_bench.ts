/** Store apply throughput: the ceiling of what one hop can relay. */
import { PointStore, type StoredPoint } from "./point_store.ts";
import type { Point } from "./point.ts";
import { Status } from "./status.ts";

const n = 100_000;
const updates: Point[] = Array.from({ length: n }, (_, i) => ({
  id: `plant1/sim/double/${i}`,
  value: i * 0.5,
  type: "Double",
  status: Status.Good,
  time: 1_700_000_000_000,
  hops: ["plant1"],
  cause: null,
}));

const store = new PointStore("dmz");
let seen = 0;
store.subscribe({ onUpdate: () => seen++, onRemove: () => {} });
/** What the store returned for each point, as links and sources keep it. */
const held: (StoredPoint | undefined)[] = updates.map((u) =>
  store.apply(u, "link:plant1") ?? undefined
);

Deno.bench("store apply: 100,000 updates to existing points, one sink", { n: 1 }, () => {
  for (let i = 0; i < n; i++) store.apply(updates[i]!, "link:plant1");
  if (seen === 0) throw new Error("sink saw nothing");
});

Deno.bench(
  "store apply, entries handed back: 100,000 updates to existing points, one sink",
  { n: 1 },
  () => {
    for (let i = 0; i < n; i++) {
      held[i] = store.apply(updates[i]!, "link:plant1", held[i]) ?? undefined;
    }
    if (seen === 0) throw new Error("sink saw nothing");
  },
);
