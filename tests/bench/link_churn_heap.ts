/**
 * Heap of one tunnel link under point-id churn: a source store with 1,000
 * points whose ids are replaced every round (1,000 new ids born, the previous
 * 1,000 removed), sent over a link to a receiving store. Prints the heap after
 * a garbage collection per churned id, of both ends together. The sender's
 * per-slot arrays (point, type and path last sent, two flag bytes) and the
 * receiver's per-index definitions (id, type, path) are indexed by the
 * store's slots; the store gives a removed point's slot to the next new
 * point, so they stay as large as the most points held at once (2,000 here)
 * and the heap per churned id should be about 0 (it was 54–62 B while slots
 * were never reused).
 *
 *     deno run -A --v8-flags=--expose-gc tests/bench/link_churn_heap.ts [rounds]
 */
import { PointStore, Status } from "../../core/mod.ts";
import { protocolVersion } from "../../tunnel/frames.ts";
import { helloFrame } from "../../tunnel/control_frames.ts";
import { Link } from "../../tunnel/mod.ts";
import { benchLinkOptions, recorder } from "./_recorded_link.ts";

const rounds = Number(Deno.args[0] ?? 200);
const live = 1000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  throw new Error("Run with --v8-flags=--expose-gc so the heap is measured after a collection");
}
const heap = () => {
  gc();
  gc();
  return Deno.memoryUsage().heapUsed;
};

const source = new PointStore("plant1");
const wire = recorder(true);
const sender = new Link(wire, {
  ...benchLinkOptions,
  hop: "plant1",
  peer: "dmz",
  role: "listener",
  store: source,
});
sender.start();
sender.receive(
  helloFrame({ version: protocolVersion, hop: "dmz", to: "plant1", direction: "pull" }),
);
const mirror = new PointStore("dmz");
const receiver = new Link(recorder(false), {
  ...benchLinkOptions,
  hop: "dmz",
  peer: "plant1",
  role: "dialer",
  direction: "pull",
  store: mirror,
});
receiver.start();

let next = 0;
/** Births 1,000 new ids, removes the previous 1,000, and passes the frames on. */
async function round(): Promise<void> {
  for (let i = 0; i < live; i++) {
    source.apply({
      id: `plant1/churn/p${next + i}`,
      value: i * 0.5,
      type: "Double",
      status: Status.Good,
      time: Date.now(),
      hops: [],
      cause: null,
    }, "sim");
  }
  if (next > 0) {
    for (let i = 0; i < live; i++) {
      source.remove(`plant1/churn/p${next - live + i}`);
    }
  }
  next += live;
  await new Promise((r) => setTimeout(r, 0)); // the sender flushes in a microtask
  for (const f of wire.frames.splice(0)) receiver.receive(f);
}

for (let r = 0; r < 20; r++) await round();
const [h0, n0] = [heap(), next];
for (let r = 0; r < rounds; r++) await round();
const h1 = heap();
if (mirror.size !== live) throw new Error(`the mirror holds ${mirror.size} points, not ${live}`);
console.log(
  `${(next - n0).toLocaleString("en")} churned ids, ${live} held: heap ${
    (h0 / 1048576).toFixed(1)
  } → ${(h1 / 1048576).toFixed(1)} MB, ${((h1 - h0) / (next - n0)).toFixed(1)} B per churned id ` +
    `(sender and receiver of one link, both stores)`,
);
