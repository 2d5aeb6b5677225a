/**
 * A flood faster than the broker takes: the bridge keeps each point's latest
 * state in memory (coalescing) instead of spilling to the on-disk buffer or
 * dropping, and the cloud converges to the source's last values.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { sleep } from "../core/mod.ts";
import { tempDir, waitFor } from "./kit/helpers.ts";
import { floodHop } from "./kit/flood_source.ts";
import { observedBroker } from "./kit/observer.ts";

for (const format of ["sparkplug", "json"] as const) {
  Deno.test(`${format}: a flood beyond the broker's pace coalesces in memory and converges to the last values`, async () => {
    await using dir = await tempDir();
    const points = 2000, updates = 400_000;
    await using cloud = await observedBroker(dir.path, [
      format === "json" ? "flood/#" : "spBv1.0/#",
    ]);
    await using flood = await floodHop(dir.path, cloud.setup.plainPort, points, {
      "mqtt-format": format,
      "mqtt-prefix": "flood",
      "mqtt-batch": format === "json",
    });
    const { source, mqtt } = flood;
    const last = await source.run(updates, 1);
    const key = (i: number) => format === "json" ? `plant1/bench/p${i}` : `plant1:bench/p${i}`;
    let missing = "";
    await waitFor("every point's last value at the broker", () => {
      const seen = cloud.obs.latestValues();
      for (let i = 0; i < points; i++) {
        if (seen.get(key(i)) !== last[i]) {
          return void (missing = `${key(i)}: ${seen.get(key(i))}`);
        }
      }
      return true;
    }, 60_000).catch((e) => {
      throw new Error(
        `${(e as Error).message}; first missing ${missing}; ${JSON.stringify(mqtt.stats())}`,
      );
    });
    // The bridge counts a batch once the broker has acknowledged it, which can come after the
    // observer saw its messages.
    const s = await waitFor("the bridge to count every update", () => {
      const now = mqtt.stats();
      return now.sent + now.coalesced >= updates ? now : undefined;
    }, 10_000).catch((e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(mqtt.stats())}`);
    });
    assertEquals(s.spilled, 0, `nothing went to disk while connected: ${JSON.stringify(s)}`);
    assertEquals(s.dropped, 0);
    assert(s.sent + s.coalesced >= updates, JSON.stringify(s));
  });
}

Deno.test("a device whose points arrive over half a second is born once they settle, not once per arrival", async () => {
  await using dir = await tempDir();
  await using cloud = await observedBroker(dir.path, ["spBv1.0/#"]);
  await using flood = await floodHop(dir.path, cloud.setup.plainPort, 0);
  const { source } = flood;
  const obs = cloud.obs;
  await obs.waitFor("NBIRTH", (s) => s.topic.includes("/NBIRTH/"));
  // Eight arrivals of 500 points, 60 ms apart (longer than the bridge's 50 ms flush).
  for (let slice = 0; slice < 8; slice++) {
    for (let i = slice * 500; i < (slice + 1) * 500; i++) {
      source.set(i, i);
    }
    await sleep(60);
  }
  const births = () => obs.seen.filter((s) => s.topic.endsWith("/DBIRTH/plant1/plant1:bench"));
  await waitFor(
    "a DBIRTH with all 4,000 metrics",
    () => births().some((b) => b.sp!.metrics.length === 4000),
    10_000,
  );
  assertEquals(births().length, 1, `births: ${births().map((b) => b.sp!.metrics.length)}`);
});
