/** Writes travel upstream through every hop's write policy to the origin, and their result returns. */
import { deepStrictEqual as assertEquals } from "node:assert";
import { Status, statusName } from "../core/mod.ts";
import { chainCerts, localHop, startHop, startIt, stopAll, waitForPoints } from "./kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "./kit/helpers.ts";

const fast = ["--heartbeat", "200ms", "--link-timeout", "1s"];

Deno.test("a write allowed by every hop reaches the plant's source and its result returns; a hop's policy or a bad status refuses it", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["plant1", "dmz", "it", "ops"]);
  const p1 = freePort(), p2 = freePort();
  let dmz: Proc | null = null, it: Proc | null = null, plant: Proc | null = null;
  try {
    dmz = await startHop(dir.path, "dmz", [
      "--listen",
      `127.0.0.1:${p1}`,
      // "spare" never connects: its link's rtt point stays BadWaitingForInitialData.
      "--peers",
      "plant1:push,it:pull,spare:push",
      "--writable",
      "plant1/sim/double/*,plant1/sim/int64/*",
      ...fast,
    ]);
    it = await startIt(dir.path, p1, p2, "ops:pull", ["--writable", "plant1/**,dmz/**", ...fast]);
    // A slow simulator: the written values stay until the test has seen them.
    plant = await startHop(dir.path, "plant1", [
      "--sim",
      "10",
      "--sim-rate",
      "1",
      "--push",
      `dmz=127.0.0.1:${p1}`,
      "--writable",
      "plant1/**",
      ...fast,
    ]);
    await using ops = await localHop(dir.path, "ops", [
      "--pull",
      `it=127.0.0.1:${p2}`,
      "--writable",
      "**",
      ...fast,
    ]);
    await waitForPoints(ops.hop, "plant1/sim/", 10, "good");

    // Allowed at ops, it, dmz and plant1: the simulator takes it and the new value comes back.
    const big = (1n << 62n) + 3n;
    assertEquals(
      statusName(await ops.hop.write({ id: "plant1/sim/int64/7", value: big, via: [] })),
      "Good",
    );
    await waitFor(
      "the written value to come back down the chain",
      () => ops.hop.store.get("plant1/sim/int64/7")?.value === big,
    );
    assertEquals(
      statusName(await ops.hop.write({ id: "plant1/sim/double/5", value: 42.5, via: [] })),
      "Good",
    );
    await waitFor(
      "the written double to come back",
      () => ops.hop.store.get("plant1/sim/double/5")?.value === 42.5,
    );

    // dmz does not allow Int32 points: refused there, and the refusal returns through it.
    assertEquals(
      statusName(await ops.hop.write({ id: "plant1/sim/int32/6", value: 5, via: [] })),
      "BadNotWritable",
    );
    // A value of the wrong type is refused before it leaves.
    assertEquals(
      statusName(await ops.hop.write({ id: "plant1/sim/double/5", value: "x", via: [] })),
      "BadTypeMismatch",
    );
    // A point with bad status is never written.
    const bad = await waitFor(
      "dmz's spare link rtt point",
      () => ops.hop.store.get("dmz/$links/spare/rtt_ms"),
    );
    assertEquals(bad.status, Status.BadWaitingForInitialData);
    assertEquals(
      await ops.hop.write({ id: "dmz/$links/spare/rtt_ms", value: 1, via: [] }),
      Status.BadWaitingForInitialData,
    );

    // With the plant gone, the write cannot reach the origin: the link says so.
    plant.child.kill("SIGKILL");
    await waitForPoints(ops.hop, "plant1/sim/", 10, "uncertain");
    assertEquals(
      statusName(await ops.hop.write({ id: "plant1/sim/double/5", value: 1.5, via: [] })),
      "BadNotConnected",
    );
  } finally {
    await stopAll(plant, it, dmz);
  }
});
