/**
 * Store-and-forward across a crash: a hop buffering for a stopped broker is
 * killed (SIGKILL), its buffer segment is cut in the middle of a record (as a
 * power loss can leave it), and the restarted hop keeps and sends every
 * record before the cut, logging what it dropped.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { type Proc, tempDir, waitFor } from "./kit/helpers.ts";
import { spawnHop } from "./kit/hops.ts";
import { Mosquitto, setupBroker, tlsHopFlags } from "./kit/mosquitto.ts";
import { Observer } from "./kit/observer.ts";

/** Offsets of the records in a segment file (8-byte header, frames `[crc][length][time][bytes]`). */
function frames(data: Uint8Array): { at: number; times: number[] }[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: { at: number; times: number[] }[] = [];
  // Each round moves past one frame: bounded by the file's length.
  for (let o = 8; o + 16 <= data.length;) {
    const len = view.getUint32(o + 4, true);
    if (o + 16 + len > data.length) break;
    const json = new TextDecoder().decode(data.subarray(o + 16, o + 16 + len));
    const points = JSON.parse(json) as { time: string | null }[];
    out.push({ at: o, times: points.map((p) => Date.parse(p.time ?? "")) });
    o += 16 + len;
  }
  return out;
}

Deno.test("a hop killed while buffering, its segment then cut mid-record, sends every record before the cut", async () => {
  await using dir = await tempDir();
  const setup = await setupBroker(dir.path);
  const broker = new Mosquitto(setup);
  const dataDir = join(dir.path, "hop");
  const segment = join(dataDir, "mqtt", "buffer", "00000001.seg");
  const hops: Proc[] = [];
  let observer: Observer | null = null;
  try {
    // The broker is down from the start: every update goes to the buffer.
    const flags = tlsHopFlags(setup, dataDir, ["--sim", "5", "--sim-rate", "100"]);
    const first = spawnHop(dir.path, flags);
    hops.push(first);
    await waitFor("a dozen buffered records", () => {
      try {
        return frames(Deno.readFileSync(segment)).length >= 12 || undefined;
      } catch {
        return undefined; // not made yet
      }
    });
    await first.stop("SIGKILL");

    // Cut in the middle of the 7th record: the six before it are what must arrive.
    const data = Deno.readFileSync(segment);
    const all = frames(data);
    const cut = all[6]!.at + 10;
    Deno.truncateSync(segment, cut);
    const kept = new Set(all.slice(0, 6).flatMap((f) => f.times));
    const dropped = new Set(all.slice(6).flatMap((f) => f.times).filter((t) => !kept.has(t)));
    assert(kept.size > 0 && dropped.size > 0, JSON.stringify(all));
    /** Source timestamps of the updates the broker saw as history. */
    const history = () =>
      new Set(
        observer!.seen.filter((s) => s.topic.includes("/DDATA/")).flatMap((s) =>
          s.sp!.metrics.filter((m) => m.historical).map((m) => Number(m.timestamp))
        ),
      );

    await broker.start();
    observer = await Observer.connect(setup.plainPort, ["spBv1.0/#"]);
    const second = spawnHop(dir.path, flags);
    hops.push(second);
    const repaired = await second.waitForLine(/MQTT buffer segment/);
    assert(/00000001\.seg/.test(repaired), repaired);
    assert(/\b6 batches kept\b/.test(repaired), repaired);
    assert(/\b1 damaged or following batches and 10 bytes\b/.test(repaired), repaired);
    assert(/cut short/.test(repaired), repaired);
    await second.waitForLine(/now live/, 20_000);
    // Every update of the records before the cut arrives as history; none of those after it.
    await waitFor("the records before the cut at the broker", () => {
      const h = history();
      return [...kept].every((t) => h.has(t)) || undefined;
    });
    const h = history();
    assertEquals([...dropped].filter((t) => h.has(t)), [], "updates of dropped records were sent");
    assertEquals((await second.stop()).code, 0, second.output());
    // Cut back to its good records, the segment is not reported again.
    const third = spawnHop(dir.path, flags);
    hops.push(third);
    await third.waitForLine(/MQTT: connected to/);
    assertEquals((await third.stop()).code, 0, third.output());
    assert(!/MQTT buffer segment/.test(third.output()), third.output());
  } finally {
    for (const h of hops) await h.stop();
    await observer?.close();
    await broker.stop();
  }
});
