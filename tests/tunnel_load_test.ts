/** Consistency under limited bandwidth: a stalled receiver costs the sender memory per point, not per update. */
import { ok as assert } from "node:assert";
import { sleep, Status } from "../core/mod.ts";
import { LinkAdapter } from "../tunnel/mod.ts";
import { chainCerts, localHop, pointsOf, startDmz, stopAll, waitForPoints } from "./kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "./kit/helpers.ts";

const points = 10_000;

Deno.test("a receiver stalled for seconds while 10,000 points change fast: the sender stays bounded and the receiver converges", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["plant1", "dmz", "ops"]);
  const p1 = freePort();
  let dmz: Proc | null = null;
  let stopped = false;
  try {
    dmz = await startDmz(dir.path, p1, "plant1:push,ops:pull", ["--link-timeout", "10s"]);
    // The source runs in this process so the test can drive it and look inside its link.
    await using src = await localHop(dir.path, "plant1", [
      "--push",
      `dmz=127.0.0.1:${p1}`,
      "--link-timeout",
      "10s",
    ]);
    const store = src.hop.store;
    const publish = (round: number) => {
      for (let i = 0; i < points; i++) {
        store.apply({
          id: `plant1/load/${i}`,
          value: round * points + i,
          type: "Double",
          status: Status.Good,
          time: Date.now(),
          hops: [],
          cause: null,
        }, "test");
      }
    };
    publish(0);
    await using ops = await localHop(dir.path, "ops", [
      "--pull",
      `dmz=127.0.0.1:${p1}`,
      "--link-timeout",
      "10s",
    ]);
    await waitForPoints(ops.hop, "plant1/load/", points, "good", 20_000);

    const link = src.adapters.find((a) => a instanceof LinkAdapter) as LinkAdapter;
    dmz.child.kill("SIGSTOP");
    stopped = true;
    const rssBefore = Deno.memoryUsage().rss;
    let maxPending = 0, maxBuffered = 0, round = 0;
    const until = Date.now() + 2500;
    while (Date.now() < until && round < 400) {
      publish(++round);
      // Let the link flush (and find the socket full) between rounds.
      await sleep(1);
      maxPending = Math.max(maxPending, link.link?.pendingPoints ?? 0);
      maxBuffered = Math.max(maxBuffered, link.bufferedBytes);
    }
    const rssAfter = Deno.memoryUsage().rss;
    dmz.child.kill("SIGCONT");
    stopped = false;
    console.log(
      `stalled receiver: ${round} rounds = ${
        round * points
      } updates in 2.5 s; sender pending ≤ ${maxPending} points, socket buffer ≤ ${
        (maxBuffered / 1024).toFixed(0)
      } KiB; test-process RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ${
        (rssAfter / 2 ** 20).toFixed(0)
      } MiB`,
    );
    assert(round >= 20, `only ${round} rounds`);
    assert(maxPending <= points + 10, `pending ${maxPending}`);
    // The link stops writing once 4 MiB wait in the socket; one more batch may be on its way.
    assert(maxBuffered < 5 * 2 ** 20, `buffered ${maxBuffered}`);

    const final = round * points;
    const t0 = performance.now();
    await waitFor("the receiver to converge to the final values", () => {
      const ps = pointsOf(ops.hop.store.values(), "plant1/load/");
      return ps.length === points &&
        ps.every((p) => p.value === final + Number(p.id.slice(12)) && p.status === Status.Good);
    }, 30_000);
    console.log(`converged ${(performance.now() - t0).toFixed(0)} ms after the receiver resumed`);
  } finally {
    if (stopped) dmz?.child.kill("SIGCONT");
    await stopAll(dmz);
  }
});
