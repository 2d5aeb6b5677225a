/**
 * The data diode through a lossy UDP proxy on loopback: the receiver
 * converges to the sender's data set within the carousel period at 1%, 5%
 * and 20% loss, refuses forged and replayed packets, catches up when it
 * starts late, shows silence and unrepairable gaps in the points' status and
 * cause, and never sends a packet back.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import {
  type Adapter,
  type DataType,
  derivePermissions,
  Hop,
  permissionFlags,
  pointSlot,
  type PointStore,
  sameValue,
  sleep,
  Status,
  statusName,
  type Value,
} from "../core/mod.ts";
import {
  addDiodeKey,
  diodeAdapters,
  DiodeListener,
  DiodePeerSource,
  DiodeSender,
} from "../adapters/diode/mod.ts";
import { HandSource } from "./kit/hand_source.ts";
import { chainCerts, hopConfig, localHop, startHop, stopAll, waitForPoints } from "./kit/hops.ts";
import { freePort, type Proc, runDeno, runHopgate, tempDir, waitFor } from "./kit/helpers.ts";
import { type Spoil, UdpLossyProxy } from "./kit/udp_lossy_proxy.ts";

const timers = ["--heartbeat", "200ms", "--link-timeout", "1s", "--status-interval", "0"];

/** The key of plant1's diode, in both hops' data directories. */
async function diodeKeys(dir: string): Promise<void> {
  const file = join(dir, "plant1", "diode.key");
  await Deno.mkdir(join(dir, "plant1"), { recursive: true });
  await Deno.mkdir(join(dir, "dmz"), { recursive: true });
  await addDiodeKey("plant1", file);
  await Deno.copyFile(file, join(dir, "dmz", "diode.key"));
  await Deno.chmod(join(dir, "dmz", "diode.key"), 0o600);
}

/** A hop of `adapters` made from `flags`, started. */
async function startedHop(dir: string, name: string, flags: string[], extra: Adapter[] = []) {
  const { config } = hopConfig(dir, name, [...timers, ...flags]);
  const adapters = [...extra, ...diodeAdapters(config)];
  const hop = new Hop(config, adapters);
  await hop.start();
  return { hop, adapters };
}

/** The receiving hop dmz on `port`, accepting plant1. */
function startReceiver(dir: string, port: number, flags: string[] = []) {
  return startedHop(dir, "dmz", [
    "--diode-listen",
    `127.0.0.1:${port}`,
    "--diode-peers",
    "plant1",
    ...flags,
  ]);
}

/** The sending hop plant1, with a hand-driven source, sending to `port`. */
async function startSender(dir: string, port: number, flags: string[] = []) {
  const hand = new HandSource("plc1");
  const { hop, adapters } = await startedHop(dir, "plant1", [
    "--diode-send",
    `dmz=127.0.0.1:${port}`,
    "--diode-carousel",
    "1s",
    "--diode-rate",
    "4MB",
    ...flags,
  ], [hand]);
  return { hop, hand, sender: adapters.find((a) => a instanceof DiodeSender)! };
}

/** Mixed points, one of them too large for a packet, so it travels split. */
function fill(hand: HandSource, n: number, round = 0): void {
  const kinds: [DataType, (i: number) => Value][] = [
    ["Double", (i) => i + round + 0.5],
    ["Int64", (i) => (1n << 60n) + BigInt(i + round)],
    ["String", (i) => `text ${i} ${round}`],
    ["Boolean", (i) => (i + round) % 2 === 0],
    ["Double[]", (i) => [i, round, 1.5]],
  ];
  for (let i = 0; i < n; i++) {
    const [type, value] = kinds[i % kinds.length]!;
    hand.apply({ id: `plant1/plc1/p${i}`, type, value: value(i) });
  }
  hand.apply({ id: "plant1/plc1/big", type: "String", value: `${round} `.repeat(3000) });
}

/** What differs between the sender's points under plant1/ and the receiver's. */
function differences(from: PointStore, to: PointStore): string[] {
  const out: string[] = [];
  const theirs = [...from.values()].filter((p) => p.id.startsWith("plant1/"));
  for (const p of theirs) {
    const q = to.get(p.id);
    if (!q) out.push(`${p.id} missing`);
    else if (!sameValue(p.value, q.value) || p.type !== q.type || p.status !== q.status) {
      out.push(`${p.id}: ${String(q.value).slice(0, 20)} ${statusName(q.status)}`);
    }
  }
  const ours = [...to.values()].filter((p) => p.id.startsWith("plant1/"));
  if (ours.length !== theirs.length) out.push(`${ours.length} points, not ${theirs.length}`);
  return out;
}

function waitForMirror(from: PointStore, to: PointStore, ms: number, what: string) {
  let last: string[] = [];
  return waitFor(what, () => {
    last = differences(from, to);
    return last.length === 0;
  }, ms).catch((e) => {
    throw new Error(`${(e as Error).message}: ${last.slice(0, 5).join("; ")}`);
  });
}

function peerSource(adapters: Adapter[]): DiodePeerSource {
  return adapters.find((a) => a instanceof DiodePeerSource)!;
}

function listener(adapters: Adapter[]): DiodeListener {
  return adapters.find((a) => a instanceof DiodeListener)!;
}

for (const loss of [0.01, 0.05, 0.2]) {
  Deno.test(`a diode mirrors the sender's data set at ${loss * 100}% loss, with duplicates, reordering and corruption, within the carousel period`, async () => {
    await using dir = await tempDir();
    await diodeKeys(dir.path);
    const port = freePort();
    const rx = await startReceiver(dir.path, port);
    const spoil: Spoil = { drop: loss, duplicate: 0.02, reorder: 0.02, corrupt: 0.02 };
    await using proxy = await UdpLossyProxy.start(port, { spoil, seed: Math.round(loss * 1000) });
    const tx = await startSender(dir.path, proxy.port);
    try {
      // Changes for two carousel periods, then points removed.
      for (let round = 0; round < 20; round++) {
        fill(tx.hand, 300, round);
        await sleep(100);
      }
      for (let i = 0; i < 300; i += 37) tx.hop.store.remove(`plant1/plc1/p${i}`);
      // A carousel period is 1 s; some cycles may lose a packet, and gaps need a cycle to heal.
      await waitForMirror(tx.hop.store, rx.hop.store, 15_000, `the mirror at ${loss * 100}% loss`);
      const drops = listener(rx.adapters).stats();
      assert(proxy.counts.dropped > 0 && proxy.counts.corrupted > 0, JSON.stringify(proxy.counts));
      // A corrupted packet fails authentication (or, in its clear header, names no key).
      assert(drops.forged + drops.unknownKey + drops.malformed + drops.replayed > 0);
      assertEquals(proxy.counts.reverse, 0);
      assertEquals(rx.hop.store.get("plant1/plc1/p1")?.hops, ["plant1", "dmz"]);
      // Parity or a change's repeat brought back some of what was lost.
      const got = peerSource(rx.adapters).stats();
      assert(got.repaired + got.repeated > 0, JSON.stringify(got));
    } finally {
      await tx.hop.stop();
      await rx.hop.stop();
    }
  });
}

Deno.test("forged, replayed and foreign packets are dropped and counted, never applied", async () => {
  await using dir = await tempDir();
  await diodeKeys(dir.path);
  const port = freePort();
  const rx = await startReceiver(dir.path, port);
  await using proxy = await UdpLossyProxy.start(port);
  const tx = await startSender(dir.path, proxy.port);
  try {
    tx.hand.apply({ id: "plant1/plc1/v", type: "Double", value: 1 });
    await waitFor("the first value", () => rx.hop.store.get("plant1/plc1/v")?.value === 1);
    const recorded = proxy.seen.splice(0);
    tx.hand.apply({ id: "plant1/plc1/v", type: "Double", value: 2 });
    await waitFor("the second value", () => rx.hop.store.get("plant1/plc1/v")?.value === 2);
    const before = listener(rx.adapters).stats();

    // Replayed: every packet recorded while the value was 1.
    proxy.inject(recorded);
    // Forged: a recorded packet with a bit of its ciphertext flipped (under a packet number
    // not seen yet, or it would count as a replay), one claiming a later epoch, garbage, and
    // packets sealed under a key of the same name that dmz does not hold.
    const flipped = recorded.at(-1)!.slice();
    flipped[19]! ^= 0x80;
    flipped[flipped.length - 20]! ^= 1;
    const later = recorded.at(-1)!.slice();
    const header = new DataView(later.buffer);
    header.setUint32(8, header.getUint32(8) + 1);
    proxy.inject([flipped, later, crypto.getRandomValues(new Uint8Array(300))]);
    const other = await tempDir();
    try {
      await diodeKeys(other.path);
      const stranger = await startSender(other.path, port, ["--diode-carousel", "200ms"]);
      stranger.hand.apply({ id: "plant1/plc1/v", type: "Double", value: 666 });
      await waitFor("the stranger's packets", () => stranger.sender.stats().packets > 3);
      await stranger.hop.stop();
    } finally {
      await other[Symbol.asyncDispose]();
    }
    let s = listener(rx.adapters).stats();
    const after = await waitFor("the drops to be counted", () => {
      s = listener(rx.adapters).stats();
      return s.replayed - before.replayed >= recorded.length && s.forged - before.forged >= 2 &&
          s.malformed - before.malformed >= 1 && s.unknownKey - before.unknownKey >= 3
        ? s
        : undefined;
    }).catch((e) => {
      throw new Error(
        `${(e as Error).message}: ${JSON.stringify({ before, s, n: recorded.length })}`,
      );
    });
    assert(after.replayed >= recorded.length);
    assertEquals(rx.hop.store.get("plant1/plc1/v")?.value, 2);
    assertEquals(rx.hop.store.get("plant1/plc1/v")?.status, Status.Good);
  } finally {
    await tx.hop.stop();
    await rx.hop.stop();
  }
});

Deno.test("a receiver started late converges within a carousel period", async () => {
  await using dir = await tempDir();
  await diodeKeys(dir.path);
  const port = freePort();
  const tx = await startSender(dir.path, port);
  try {
    fill(tx.hand, 500);
    await waitFor("a first cycle", () => tx.sender.stats().carouselPackets > 10);
    const rx = await startReceiver(dir.path, port);
    const from = Date.now();
    try {
      await waitForMirror(tx.hop.store, rx.hop.store, 10_000, "the late receiver's mirror");
      // The carousel's period is 1 s; a little more for the load of the machine.
      assert(Date.now() - from < 5_000, `converged after ${Date.now() - from} ms`);
    } finally {
      await rx.hop.stop();
    }
  } finally {
    await tx.hop.stop();
  }
});

Deno.test("silence and an unrepairable gap turn the points Uncertain with the diode as the cause, until the carousel refreshes them", async () => {
  await using dir = await tempDir();
  await diodeKeys(dir.path);
  const port = freePort();
  const rx = await startReceiver(dir.path, port);
  await using proxy = await UdpLossyProxy.start(port);
  // A slow carousel, so the Uncertain points are seen before it refreshes them.
  const tx = await startSender(dir.path, proxy.port, ["--diode-carousel", "4s"]);
  try {
    fill(tx.hand, 20);
    await waitForMirror(tx.hop.store, rx.hop.store, 10_000, "the mirror");

    // A gap: a change lost with its parity and its repeat, then one that arrives.
    // Every change so far repeated, so the next repeat is the lost change's.
    const repeats = await waitFor("the repeats of the changes so far", () => {
      const s = tx.sender.stats();
      return s.repeats === s.changePackets ? s.repeats : undefined;
    });
    proxy.spoil = { drop: 1 };
    tx.hand.apply({ id: "plant1/plc1/p0", type: "Double", value: 100 });
    await waitFor("the change's repeat", () => tx.sender.stats().repeats > repeats);
    const dropped = proxy.counts.dropped;
    await waitFor("the repeat lost too", () => proxy.counts.dropped >= dropped + 2);
    proxy.spoil = {};
    tx.hand.apply({ id: "plant1/plc1/p5", type: "Double", value: 105 });
    const gap = await waitFor("the gap", () => {
      const p = rx.hop.store.get("plant1/plc1/p1");
      return p?.status === Status.UncertainNoCommunicationLastUsableValue ? p : undefined;
    }, 5_000).catch((e) => {
      throw new Error(
        `${(e as Error).message}: ${
          JSON.stringify({
            rx: peerSource(rx.adapters).stats(),
            tx: tx.sender.stats(),
            proxy: proxy.counts,
            p0: rx.hop.store.get("plant1/plc1/p0")?.value,
          })
        }`,
      );
    });
    assertEquals([gap.cause?.hop, gap.cause?.via], ["dmz", "diode:plant1"]);
    assert(gap.cause?.reason.startsWith("gap:"), String(gap.cause?.reason));
    assertEquals(peerSource(rx.adapters).stats().gaps >= 1, true);
    // The carousel brings every point back, the lost change included.
    await waitForMirror(tx.hop.store, rx.hop.store, 12_000, "the mirror after the gap");

    // Silence: nothing passes for longer than --link-timeout (1 s).
    proxy.spoil = { drop: 1 };
    const silent = await waitFor("silence", () => {
      const p = rx.hop.store.get("plant1/plc1/p2");
      return p?.cause?.reason.startsWith("silence") ? p : undefined;
    }, 5_000);
    assertEquals(silent.status, Status.UncertainNoCommunicationLastUsableValue);
    assertEquals(silent.cause?.via, "diode:plant1");
    assertEquals(rx.hop.store.get("dmz/$diode/plant1/receiving")?.value, false);
    proxy.spoil = {};
    await waitForMirror(tx.hop.store, rx.hop.store, 12_000, "the mirror after the silence");
    assertEquals(proxy.counts.reverse, 0);
  } finally {
    await tx.hop.stop();
    await rx.hop.stop();
  }
});

Deno.test("a point removed and another given its slot at once: the removal still reaches the receiver with the change, not a carousel later", async () => {
  await using dir = await tempDir();
  await diodeKeys(dir.path);
  const port = freePort();
  const rx = await startReceiver(dir.path, port);
  // A slow carousel: a removal lost among the changes would wait a minute for its sweep.
  const tx = await startSender(dir.path, port, ["--diode-carousel", "60s"]);
  try {
    fill(tx.hand, 20);
    await waitForMirror(tx.hop.store, rx.hop.store, 10_000, "the mirror");
    const store = tx.hop.store;
    // In one turn of the sender's loop: each old id goes and a new one takes its slot, and
    // one id goes and comes back with a new value (its removal must not undo its return).
    for (const i of [1, 4, 7, 10, 13]) {
      const slot = pointSlot(store.get(`plant1/plc1/p${i}`)!);
      store.remove(`plant1/plc1/p${i}`);
      const nu = tx.hand.apply({ id: `plant1/plc1/new${i}`, type: "Double", value: -i });
      assertEquals(pointSlot(nu!), slot);
    }
    store.remove("plant1/plc1/p5");
    tx.hand.apply({ id: "plant1/plc1/p5", type: "Double", value: 555 });
    await waitForMirror(tx.hop.store, rx.hop.store, 10_000, "the mirror after the churn");
    assertEquals(rx.hop.store.get("plant1/plc1/p1"), undefined);
    assertEquals(rx.hop.store.get("plant1/plc1/p5")?.value, 555);
  } finally {
    await tx.hop.stop();
    await rx.hop.stop();
  }
});

Deno.test("a point that came over a diode cannot be written", async () => {
  await using dir = await tempDir();
  await diodeKeys(dir.path);
  const port = freePort();
  const rx = await startReceiver(dir.path, port, ["--writable", "**"]);
  const tx = await startSender(dir.path, port, ["--writable", "**"]);
  try {
    tx.hand.apply({ id: "plant1/plc1/v", type: "Double", value: 1 });
    await waitFor("the value", () => rx.hop.store.get("plant1/plc1/v")?.value === 1);
    const result = await rx.hop.write({ id: "plant1/plc1/v", value: 5, via: [] });
    assertEquals(statusName(result), "BadNotWritable");
  } finally {
    await tx.hop.stop();
    await rx.hop.stop();
  }
});

Deno.test("hops as processes under their derived permissions: the receiver sends nothing back, relays on, refuses writes, and its silence reaches downstream", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["dmz", "it"]);
  await diodeKeys(dir.path);
  const udp = freePort(), tcp = freePort();
  let dmz: Proc | null = null, plant: Proc | null = null;
  try {
    dmz = await startHop(dir.path, "dmz", [
      "--diode-listen",
      `127.0.0.1:${udp}`,
      "--diode-peers",
      "plant1",
      "--listen",
      `127.0.0.1:${tcp}`,
      "--peers",
      "it:pull",
      "--writable",
      "**",
      ...timers,
    ]);
    await using proxy = await UdpLossyProxy.start(udp, { spoil: { drop: 0.05 } });
    plant = await startHop(dir.path, "plant1", [
      "--sim",
      "20",
      "--sim-rate",
      "5",
      "--diode-send",
      `dmz=127.0.0.1:${proxy.port}`,
      "--diode-carousel",
      "1s",
      "--writable",
      "**",
      ...timers,
    ]);
    await using it = await localHop(dir.path, "it", [
      "--pull",
      `dmz=127.0.0.1:${tcp}`,
      "--writable",
      "**",
      ...timers,
    ]);
    const points = await waitForPoints(it.hop, "plant1/sim/", 20, "good", 15_000);
    assertEquals(points[0]!.hops, ["plant1", "dmz", "it"]);
    await waitFor(
      "the diode's health downstream",
      () => it.hop.store.get("dmz/$diode/plant1/receiving")?.value === true,
    );

    // A write from downstream reaches dmz, where the point has no way back to plant1.
    const id = points[0]!.id;
    const value = points[0]!.type === "Boolean" ? true : points[0]!.type.includes("64") ? 7n : 7;
    assertEquals(statusName(await it.hop.write({ id, value, via: [] })), "BadNotWritable");
    await dmz.waitForLine(/diode:plant1 cannot write/);

    // The plant goes away: dmz notices the silence, and it shows downstream with its cause.
    await plant.stop();
    const failed = await waitFor("the silence downstream", () => {
      const p = it.hop.store.get(id);
      return p?.status === Status.UncertainNoCommunicationLastUsableValue ? p : undefined;
    });
    assertEquals([failed.cause?.hop, failed.cause?.via], ["dmz", "diode:plant1"]);
    assert(failed.cause?.reason.startsWith("silence"), String(failed.cause?.reason));
    assert(proxy.counts.forwarded > 0, JSON.stringify(proxy.counts));
    assertEquals(proxy.counts.reverse, 0);
  } finally {
    await stopAll(plant, dmz);
  }
});

Deno.test("a key is rotated with an overlap and no restart: the receiver takes the old and the new key, then only the new", async () => {
  await using dir = await tempDir();
  await diodeKeys(dir.path);
  const port = freePort();
  const rx = await startReceiver(dir.path, port);
  const tx = await startSender(dir.path, port);
  try {
    tx.hand.apply({ id: "plant1/plc1/v", type: "Double", value: 1 });
    await waitFor("the value", () => rx.hop.store.get("plant1/plc1/v")?.value === 1);
    const rxList = listener(rx.adapters);
    const oldId = tx.sender.keyId;

    // The new key goes to the receiver first, then to the sender.
    const line = await addDiodeKey("plant1", join(dir.path, "new.key"));
    await Deno.writeTextFile(join(dir.path, "dmz", "diode.key"), line, { append: true });
    await waitFor("the receiver to take both keys", () => rxList.keys === 2);
    await Deno.writeTextFile(join(dir.path, "plant1", "diode.key"), line, { append: true });
    await waitFor("the sender to use the new key", () => tx.sender.keyId !== oldId);
    tx.hand.apply({ id: "plant1/plc1/v", type: "Double", value: 2 });
    await waitFor(
      "a value under the new key",
      () => rx.hop.store.get("plant1/plc1/v")?.value === 2,
    );

    // The old key leaves the receiver: nothing was dropped for want of a key on the way.
    await Deno.writeTextFile(join(dir.path, "dmz", "diode.key"), line);
    await waitFor("the receiver to hold the new key only", () => rxList.keys === 1);
    tx.hand.apply({ id: "plant1/plc1/v", type: "Double", value: 3 });
    await waitFor(
      "a value after the rotation",
      () => rx.hop.store.get("plant1/plc1/v")?.value === 3,
    );
    assertEquals(rxList.stats().unknownKey, 0);
  } finally {
    await tx.hop.stop();
    await rx.hop.stop();
  }
});

Deno.test("a sender that restarts without some points: the receiver removes them after a complete carousel cycle, and refuses the earlier run's packets, also after its own restart", async () => {
  await using dir = await tempDir();
  await diodeKeys(dir.path);
  const port = freePort();
  let rx = await startReceiver(dir.path, port);
  await using proxy = await UdpLossyProxy.start(port);
  let tx = await startSender(dir.path, proxy.port);
  try {
    fill(tx.hand, 40);
    await waitForMirror(tx.hop.store, rx.hop.store, 10_000, "the first run's mirror");
    await tx.hop.stop();
    const firstRun = proxy.seen.splice(0);
    tx = await startSender(dir.path, proxy.port);
    fill(tx.hand, 25, 7);
    await waitForMirror(tx.hop.store, rx.hop.store, 10_000, "the second run's mirror");
    assertEquals(rx.hop.store.get("plant1/plc1/p30"), undefined);
    // Packets of the first run are replays now.
    const before = listener(rx.adapters).stats().replayed;
    proxy.inject(firstRun);
    await waitFor(
      "the first run's packets refused",
      () => listener(rx.adapters).stats().replayed - before === firstRun.length,
    );
    await waitForMirror(tx.hop.store, rx.hop.store, 5_000, "the mirror after the replay");

    // A restarted receiver still knows the newest epoch it took: the first run stays refused.
    await rx.hop.stop();
    rx = await startReceiver(dir.path, port);
    proxy.inject(firstRun);
    await waitFor(
      "the first run's packets refused after a restart",
      () => listener(rx.adapters).stats().replayed === firstRun.length,
    );
    await waitForMirror(tx.hop.store, rx.hop.store, 10_000, "the restarted receiver's mirror");
  } finally {
    await tx.hop.stop();
    await rx.hop.stop();
  }
});

Deno.test("a diode sender may send only to its diode's address, and a receiver may send nowhere", async () => {
  await using dir = await tempDir();
  await diodeKeys(dir.path);
  const udp = freePort(), other = freePort();
  const sender = hopConfig(dir.path, "plant1", ["--diode-send", `dmz=127.0.0.1:${udp}`]).config;
  const receiver = hopConfig(dir.path, "dmz", [
    "--diode-listen",
    `127.0.0.1:${udp}`,
    "--diode-peers",
    "plant1",
  ]).config;
  assertEquals(derivePermissions(sender).net, ["0.0.0.0:0", `127.0.0.1:${udp}`]);
  assertEquals(derivePermissions(receiver).net, [`127.0.0.1:${udp}`]);
  const probe = new URL("./fixtures/try_udp_send.ts", import.meta.url).pathname;
  // The first word of what the probe says: SENT or REFUSED.
  const run = async (config: typeof sender, args: string[]) =>
    (await runDeno(["run", ...permissionFlags(derivePermissions(config)), probe, ...args]))
      .stdout.trim().split(" ")[0];
  assertEquals(await run(sender, [`127.0.0.1:${udp}`]), "SENT");
  assertEquals(await run(sender, [`127.0.0.1:${other}`]), "REFUSED");
  // The receiver can neither send from a port of its own, nor from its listening address.
  assertEquals(await run(receiver, [`127.0.0.1:${other}`]), "REFUSED");
  assertEquals(await run(receiver, [`127.0.0.1:${other}`, `127.0.0.1:${udp}`]), "REFUSED");
  // With the network granted, the same probe sends: the refusals above are the sandbox's.
  assertEquals(
    (await runDeno(["run", "--allow-net", probe, `127.0.0.1:${other}`])).stdout.trim(),
    "SENT",
  );
});

Deno.test("hopgate certs diode-key adds a key line to an owner-only file and prints it; a bad name is refused", async () => {
  await using dir = await tempDir();
  const file = join(dir.path, "keys", "diode.key");
  const out = await runHopgate(["certs", "diode-key", "plant1", "--out", file]);
  assertEquals(out.code, 0, out.stderr);
  const text = await Deno.readTextFile(file);
  assert(/^plant1 [0-9a-f]{64}\n$/.test(text), text);
  assert(out.stdout.includes(text.trim()));
  assertEquals((await Deno.stat(file)).mode! & 0o777, 0o600);
  const bad = await runHopgate(["certs", "diode-key", "not a hop", "--out", file]);
  assertEquals(bad.code, 2);
  assert(/is not a hop name/.test(bad.stderr), bad.stderr);
});

Deno.test("a sender whose packets cannot leave the host shows its diode down, with the error", async () => {
  await using dir = await tempDir();
  await diodeKeys(dir.path);
  // A broadcast address without the broadcast option: the system refuses every datagram.
  const { config } = hopConfig(dir.path, "plant1", [
    ...timers,
    "--diode-send",
    "dmz=255.255.255.255:9",
  ]);
  const hand = new HandSource("plc1");
  const hop = new Hop(config, [hand, ...diodeAdapters(config)]);
  await hop.start();
  try {
    hand.apply({ id: "plant1/plc1/v", type: "Double", value: 1 });
    const status = await waitFor("the diode down", () => {
      const s = hop.statuses().find((a) => a.name === "diode:dmz");
      return s?.connection === "down" ? s : undefined;
    });
    assert(
      /Sending to 255\.255\.255\.255:9 failed/.test(status.lastError ?? ""),
      status.lastError!,
    );
  } finally {
    await hop.stop();
  }
});
