/**
 * Zero trust after authentication: peers with valid chain certificates that
 * push against their role, forge or capture another origin's points, send
 * values that cannot be valid, or push past a limit are refused, each alone,
 * while the plant's link and its data keep flowing.
 */
import { ok as assert, strictEqual as assertEquals } from "node:assert";
import { type DataType, severity, Status, statusName, type Value } from "../core/mod.ts";
import { FrameType } from "../tunnel/frames.ts";
import { writeFrame } from "../tunnel/control_frames.ts";
import { DataFrameWriter } from "../tunnel/data_frame_writer.ts";
import {
  chainCerts,
  localHop,
  pointsOf,
  startDmz,
  startHop,
  stopAll,
  waitForPoints,
} from "./kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "./kit/helpers.ts";
import { CraftedPeer } from "./kit/peer.ts";

/** One data frame defining and setting each point (index = position + `from`), path `hops`. */
function pointsFrame(
  points: { id: string; type: DataType; value: Value; status?: number; time?: number }[],
  hops: string[],
  from = 0,
): Uint8Array {
  const w = new DataFrameWriter();
  points.forEach((p, i) => w.definition(from + i, p.id, p.type, hops));
  points.forEach((p, i) =>
    w.state(from + i, p.value, p.status ?? Status.Good, p.time ?? Date.now(), null)
  );
  return w.finish();
}

Deno.test("peers with valid certificates can do only what their role, origins and the limits allow, and the plant's data keeps flowing", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["plant1", "plant2", "relay", "dmz", "ops", "eve", "it"]);
  const port = freePort();
  const fast = ["--heartbeat", "200ms", "--link-timeout", "2s"];
  let dmz: Proc | null = null, plant: Proc | null = null;
  try {
    dmz = await startDmz(
      dir.path,
      port,
      "plant1:push,plant2:push,relay:push:relays=plant1+plant0,ops:pull,eve,it:pull",
      [
        "--writable",
        "plant1/sim/double/*",
        "--max-link-points",
        "1500",
        "--max-points",
        "2000",
        "--max-id",
        "256",
        "--max-value",
        "16KB",
        ...fast,
      ],
    );
    plant = await startHop(dir.path, "plant1", [
      "--sim",
      "20",
      "--sim-rate",
      "50",
      "--push",
      `dmz=127.0.0.1:${port}`,
      "--writable",
      "plant1/sim/double/*",
      ...fast,
    ]);
    await using ops = await localHop(dir.path, "ops", [
      "--pull",
      `dmz=127.0.0.1:${port}`,
      "--writable",
      "plant1/sim/double/*",
      ...fast,
    ]);
    await waitForPoints(ops.hop, "plant1/sim/", 20, "good");
    const log = dmz;
    const logged = (re: RegExp) => log.waitForLine(re, 10_000);
    const connect = (hop: string, direction: "push" | "pull") =>
      CraftedPeer.connect(dir.path, port, { hop, to: "dmz", direction });
    const rss = () =>
      Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${log.child.pid}/status`))?.[1]) /
      1024;
    const rssBefore = rss();
    await logged(/--peers names eve without a role: it may only watch/);

    // Roles: a push peer cannot pull the data set, a puller cannot push, a bare name only watches.
    {
      await using p = await connect("plant2", "pull");
      const why = await p.refusal();
      assert(/plant2 may only push its data, not pull/.test(why), why);
      assert(!p.frames.some((f) => f.type === FrameType.Data), "a refused puller got data");
    }
    await logged(/Link with plant2 ended: refused: plant2 may only push its data, not pull/);
    {
      await using p = await connect("it", "push");
      assert(/it may only pull, not push .*its role in --peers is pull/.test(await p.refusal()));
    }
    {
      await using p = await connect("eve", "push");
      const why = await p.refusal();
      assert(/a bare name in --peers means watch; write eve:push/.test(why), why);
    }
    {
      // A watcher reads, and its write requests are denied.
      await using p = await connect("eve", "pull");
      await p.waitFrame((f) => f.type === FrameType.SnapshotEnd);
      p.send(
        writeFrame({ rid: 7, id: "plant1/sim/double/3", type: "Double", value: 1, via: ["eve"] }),
      );
      const r = await p.waitFrame((f) => f.type === FrameType.WriteResult);
      assert(r.type === FrameType.WriteResult);
      assertEquals(statusName(r.status), "BadUserAccessDenied");
      await logged(/Write to plant1\/sim\/double\/3 from eve refused: eve is a watcher/);
    }

    // Origins: plant2 may not speak for plant1.
    const forged = pointsFrame(
      [{ id: "plant1/sim/double/0", type: "Double", value: 666.666 }],
      ["plant1", "plant2"],
    );
    {
      await using p = await connect("plant2", "push");
      await p.opened();
      p.send(forged);
      const why = await p.refusal();
      assert(/plant2 may carry points of plant2 only, not of plant1/.test(why), why);
    }
    // A relay declared for plant1 still cannot take plant1 from the link that brings it: its
    // points are refused, its removal touches nothing, writes still go to plant1.
    {
      await using p = await connect("relay", "push");
      await p.opened();
      p.send(
        pointsFrame([{ id: "plant1/sim/double/0", type: "Double", value: 666.666 }], [
          "plant1",
          "relay",
        ]),
      );
      // plant0's point travels its own path.
      p.send(
        pointsFrame([{ id: "plant0/line/speed", type: "Double", value: 12.5 }], [
          "plant0",
          "relay",
        ], 1),
      );
      await logged(/Refused the points of plant1 from relay: link:plant1 brings plant1/);
      const relayed = await waitFor(
        "plant0's point at ops",
        () => ops.hop.store.get("plant0/line/speed"),
      );
      assertEquals(relayed.value, 12.5);
      const w = new DataFrameWriter();
      w.removal(0);
      p.send(w.finish());
      const result = await ops.hop.write({ id: "plant1/sim/double/5", value: 42.5, via: [] });
      assertEquals(statusName(result), "Good");
      assert(!p.frames.some((f) => f.type === FrameType.Write), "the relay captured a write");
      assert(p.open, "the relay's link stays: refusing its plant1 points is enough");
    }
    const probe = ops.hop.store.get("plant1/sim/double/0")!;
    assert(probe.value !== 666.666 && severity(probe.status) === "good", String(probe.value));

    // Values that cannot be valid become Bad with a cause at the receiving hop; the link stays.
    {
      await using p = await connect("plant2", "push");
      await p.opened();
      p.send(pointsFrame([
        { id: "plant2/v/byte", type: "Byte", value: -5.5 },
        { id: "plant2/v/int32", type: "Int32", value: 1e300 },
        { id: "plant2/v/int64", type: "Int64", value: 2n ** 64n - 1n },
        { id: "plant2/v/date", type: "DateTime", value: new Date(NaN) },
        { id: "plant2/v/time", type: "Double", value: 1, time: NaN },
        { id: "plant2/v/status", type: "Double", value: 1, status: 0xffffffff },
        { id: "plant2/v/big", type: "String", value: "x".repeat(20_000) },
        { id: "plant2/v/fits", type: "String", value: "y".repeat(16_000) },
        { id: "plant2/v/ok", type: "Double", value: 3.5 },
      ], ["plant2"]));
      const ps = await waitFor("plant2's points at ops", () => {
        const got = pointsOf(ops.hop.store.values(), "plant2/v/");
        return got.length === 9 ? got : undefined;
      });
      const byId = new Map(ps.map((q) => [q.id.split("/").at(-1)!, q]));
      for (const name of ["byte", "int32", "int64", "date", "time", "status"]) {
        const q = byId.get(name)!;
        assertEquals(statusName(q.status), "BadDataEncodingInvalid", name);
        assertEquals(q.value, null);
        assertEquals(q.cause?.hop, "dmz");
        assert(q.cause?.reason.startsWith("plant2 sent "), q.cause?.reason);
        assert(Number.isFinite(q.time));
      }
      assertEquals(statusName(byId.get("big")!.status), "BadEncodingLimitsExceeded");
      assertEquals(byId.get("fits")!.value, "y".repeat(16_000));
      assertEquals(byId.get("ok")!.value, 3.5);
      await logged(/Refused a value of plant2\/v\/byte from plant2: Byte value -5.5/);
      assert(p.open, "bad values do not close the link");
    }

    // Limits: each closes only the offending link, naming the limit.
    const limit = async (hop: string, frames: Uint8Array[], re: RegExp) => {
      await using p = await connect(hop, "push");
      await p.opened();
      const t0 = performance.now();
      p.send(...frames);
      const why = await p.refusal();
      assert(re.test(why), why);
      return performance.now() - t0;
    };
    await limit("plant2", [
      pointsFrame([{ id: `plant2/${"i".repeat(300)}`, type: "Double", value: 1 }], ["plant2"]),
    ], /exceeds --max-id \(256\)/);
    await limit("plant2", [
      pointsFrame([{ id: "plant2/deep", type: "Double", value: 1 }], [
        "plant2",
        ...Array(16).fill("x"),
        "plant2",
      ]),
    ], /exceeds --max-hops \(16\)/);
    const many = (n: number, from: number, origin: string, hops: string[]) =>
      pointsFrame(
        Array.from(
          { length: n },
          (_, i) => ({ id: `${origin}/n/${from + i}`, type: "Double" as const, value: i }),
        ),
        hops,
        from,
      );
    await limit("plant2", [
      many(1000, 0, "plant2", ["plant2"]),
      many(501, 1000, "plant2", ["plant2"]),
    ], /plant2 defined more than --max-link-points \(1500\)/);
    {
      // plant2 holds 1,000 points; the relay's 1,000 more would pass --max-points 2000.
      await using p2 = await connect("plant2", "push");
      await p2.opened();
      p2.send(many(1000, 0, "plant2", ["plant2"]));
      await waitFor(
        "plant2's 1,000 points at ops",
        () => pointsOf(ops.hop.store.values(), "plant2/n/").length === 1000,
      );
      await limit(
        "relay",
        [many(1000, 0, "plant0", ["plant0", "relay"])],
        /relay would make this hop hold more than --max-points \(2000\)/,
      );
      assert(p2.open, "the hop limit closes the link that crosses it, not the others");
    }
    {
      // Definitions of two long ids that differ in their last byte cost a few bytes each on the
      // wire: the reader decodes a bounded amount per frame and gives up at once.
      const w = new DataFrameWriter();
      const a = `plant2/${"a".repeat(240)}`;
      for (let i = 0; i < 400_000; i++) w.definition(i & 1, a + (i & 1), "Double", ["plant2"]);
      const frame = w.finish();
      const ms = await limit("plant2", [frame], /decode work per frame/);
      console.log(
        `a ${(frame.length / 1048576).toFixed(1)} MiB frame of repeated long ids refused in ${
          ms.toFixed(0)
        } ms`,
      );
      assert(ms < 2000, `${ms} ms`);
    }

    const rssAfter = rss();
    console.log(`dmz RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MiB across the attacks`);
    assert(rssAfter - rssBefore < 150, "memory must stay bounded");
    // Through all of it the plant's link stayed up and its data kept flowing to ops.
    assert(!log.lines.some((l) => /Link with plant1 (lost|ended)/.test(l)), log.output());
    const before = ops.hop.store.get("plant1/sim/double/0")!.time;
    await waitFor(
      "data to keep flowing",
      () => ops.hop.store.get("plant1/sim/double/0")!.time > before,
    );
    const sim = pointsOf(ops.hop.store.values(), "plant1/sim/");
    assert(sim.every((q) => severity(q.status) === "good" && q.cause === null));
  } finally {
    await stopAll(plant, dmz);
  }
});
