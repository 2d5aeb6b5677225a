/**
 * Reconnects with real hop processes: a peer that comes back again and again
 * leaves nothing behind (listeners, descriptors, warnings), and a restarted
 * dmz carries fresh data again within a second of its return.
 */
import { ok as assert } from "node:assert";
import { isGood, sleep } from "../core/mod.ts";
import type { LinkAdapter } from "../tunnel/link_adapter.ts";
import {
  chainCerts,
  LinkProxy,
  localHop,
  startDmz,
  startHop,
  startIt,
  stopAll,
  waitForPoints,
} from "./kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "./kit/helpers.ts";

const fast = ["--heartbeat", "200ms", "--link-timeout", "1s"];
const unsanitized = { sanitizeOps: false, sanitizeResources: false };

/** Open descriptors of process `pid` (Linux). */
function fds(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/** The time a hop's log line was written (`2026-12-01 05:35:44.430 +00 [INF] ...`). */
function loggedAt(line: string): number {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) \+00/.exec(line);
  if (!m) throw new Error(`No time stamp in the log line: ${line}`);
  return Date.parse(`${m[1]}T${m[2]}Z`);
}

/** Lines of a hop's output that warn of an event-listener leak. */
function leakWarnings(p: Proc | null): string[] {
  return p?.lines.filter((l) => /MaxListenersExceeded|memory leak detected/i.test(l)) ?? [];
}

Deno.test({
  name:
    "a peer reconnecting 25 times leaves the hop with flat listener and descriptor counts and no listener-leak warning",
  ...unsanitized,
  fn: async () => {
    await using dir = await tempDir();
    await chainCerts(dir.path, ["plant1", "dmz", "it"]);
    const port = freePort();
    await using plantProxy = new LinkProxy(port);
    await using itProxy = new LinkProxy(port);
    let dmz: Proc | null = null, plant: Proc | null = null;
    try {
      dmz = await startDmz(dir.path, port, "plant1:push,it:pull", fast);
      plant = await startHop(dir.path, "plant1", [
        "--sim",
        "50",
        "--sim-rate",
        "200",
        "--push",
        `dmz=127.0.0.1:${plantProxy.port}`,
        ...fast,
      ]);
      // The it hop runs here, so that its own socket's listeners can be counted.
      await using it = await localHop(dir.path, "it", [
        "--pull",
        `dmz=127.0.0.1:${itProxy.port}`,
        ...fast,
      ]);
      const link = it.adapters.find((a) => a.name === "link:dmz") as LinkAdapter;
      await waitForPoints(it.hop, "plant1/sim/", 50, "good");
      const count = (p: Proc, re: RegExp) => p.lines.filter((l) => re.test(l)).length;
      const fdsBefore = { dmz: fds(dmz.child.pid), plant: fds(plant.child.pid) };
      const listeners: number[] = [];
      for (let i = 0; i < 25; i++) {
        const plantLinks = count(dmz, /Link with plant1 open/);
        const itLinks = count(dmz, /Link with it open/);
        // Alternately a cut both ends see, and a replacement: the peer dials again while the
        // dmz still holds its old connection.
        if (i % 2 === 0) {
          plantProxy.cut();
          itProxy.cut();
          plantProxy.restore();
          itProxy.restore();
        } else {
          // Each end must have given up before the path comes back: a black hole lifted
          // sooner delivers what it held, and the old links simply go on.
          const plantEnded = count(plant, /Link with dmz (lost|ended)/);
          plantProxy.blackHole();
          itProxy.blackHole();
          await waitFor(
            "the dialers to give up their links",
            () =>
              count(plant!, /Link with dmz (lost|ended)/) > plantEnded &&
              link.link?.state !== "open",
          );
          plantProxy.restore();
          itProxy.restore();
        }
        await waitFor(
          `reconnect ${i + 1}`,
          () =>
            count(dmz!, /Link with plant1 open/) > plantLinks &&
            count(dmz!, /Link with it open/) > itLinks && link.link?.state === "open",
          20_000,
        )
          .catch((e) => {
            throw new Error(
              `${(e as Error).message}; it: ${link.status().lastError}\ndmz:\n${
                dmz!.lines.slice(-15).join("\n")
              }\nplant1:\n${plant!.lines.slice(-10).join("\n")}`,
            );
          });
        await waitForPoints(it.hop, "plant1/sim/", 50, "good", 20_000);
        listeners.push(link.socketListeners);
      }
      // Closed connections may take a moment to be released.
      await waitFor(
        "descriptors back to where they were",
        () =>
          fds(dmz!.child.pid) <= fdsBefore.dmz + 2 && fds(plant!.child.pid) <= fdsBefore.plant + 2,
      );
      console.log(
        `after 25 reconnects: listeners on it's socket ${listeners.join(",")}; descriptors dmz ${
          fds(dmz.child.pid)
        } (was ${fdsBefore.dmz}), plant1 ${fds(plant.child.pid)} (was ${fdsBefore.plant})`,
      );
      assert(listeners.every((n) => n <= listeners[0]!), `listeners grew: ${listeners}`);
      const warned = [...leakWarnings(dmz), ...leakWarnings(plant)];
      assert(warned.length === 0, warned.join("\n"));
      assert(count(dmz, /Link with plant1 open/) >= 26);
    } finally {
      await stopAll(dmz, plant);
    }
    const warned = [...leakWarnings(dmz), ...leakWarnings(plant)];
    assert(warned.length === 0, warned.join("\n"));
  },
});

Deno.test({
  name:
    "a relay whose pushing peer reconnects 15 times keeps flat listener counts on both its links, the one that stays up too",
  ...unsanitized,
  fn: async () => {
    await using dir = await tempDir();
    await chainCerts(dir.path, ["plant1", "dmz", "it"]);
    const port = freePort();
    await using proxy = new LinkProxy(port);
    let plant: Proc | null = null;
    try {
      // The relay runs here, so that its sockets' listeners can be counted.
      await using dmz = await localHop(dir.path, "dmz", [
        "--listen",
        `127.0.0.1:${port}`,
        "--peers",
        "plant1:push,it:pull",
        ...fast,
      ]);
      await using it = await localHop(dir.path, "it", ["--pull", `dmz=127.0.0.1:${port}`, ...fast]);
      plant = await startHop(dir.path, "plant1", [
        "--sim",
        "200",
        "--sim-rate",
        "2000",
        "--push",
        `dmz=127.0.0.1:${proxy.port}`,
        ...fast,
      ]);
      await waitForPoints(it.hop, "plant1/sim/", 200, "good");
      const adapter = (name: string) => dmz.adapters.find((a) => a.name === name) as LinkAdapter;
      const counts: [number, number][] = [];
      for (let i = 0; i < 15; i++) {
        const opened = plant.lines.filter((l) => /Link with dmz open/.test(l)).length;
        if (i % 2 === 0) {
          proxy.blackHole();
          await waitForPoints(it.hop, "plant1/sim/", 200, "uncertain");
        } else proxy.cut();
        proxy.restore();
        await waitFor(
          "plant1 to link again",
          () => plant!.lines.filter((l) => /Link with dmz open/.test(l)).length > opened,
          20_000,
        );
        await waitForPoints(it.hop, "plant1/sim/", 200, "good", 20_000);
        counts.push([adapter("link:plant1").socketListeners, adapter("link:it").socketListeners]);
      }
      console.log(`listeners on the dmz's sockets (plant1, it): ${counts.map((c) => c.join("/"))}`);
      const [first] = counts;
      assert(counts.every(([p, i]) => p <= first![0] && i <= first![1]), `grew: ${counts}`);
      assert(leakWarnings(plant).length === 0, leakWarnings(plant).join("\n"));
    } finally {
      await stopAll(plant);
    }
  },
});

Deno.test({
  name: "after a dmz restart, fresh data reaches the last hop within 1 s of the dmz's return",
  ...unsanitized,
  fn: async () => {
    await using dir = await tempDir();
    await chainCerts(dir.path, ["plant1", "dmz", "it", "ops"]);
    const dmzPort = freePort(), itPort = freePort();
    let dmz: Proc | null = null, it: Proc | null = null, plant: Proc | null = null;
    try {
      dmz = await startDmz(dir.path, dmzPort, "plant1:push,it:pull", fast);
      it = await startIt(dir.path, dmzPort, itPort, "ops:pull", fast);
      plant = await startHop(dir.path, "plant1", [
        "--sim",
        "20",
        "--sim-rate",
        "200",
        "--push",
        `dmz=127.0.0.1:${dmzPort}`,
        ...fast,
      ]);
      await using ops = await localHop(dir.path, "ops", [
        "--pull",
        `it=127.0.0.1:${itPort}`,
        ...fast,
      ]);
      await waitForPoints(ops.hop, "plant1/sim/", 20, "good");
      const took: number[] = [];
      for (let round = 0; round < 3; round++) {
        await dmz.stop("SIGKILL");
        await waitForPoints(ops.hop, "plant1/sim/", 20, "uncertain");
        // Held down for a while, as a real restart is (a fault's length, not a wait for a
        // condition): the dialers are in their retries.
        await sleep(2000 + round * 1000);
        dmz = await startDmz(dir.path, dmzPort, "plant1:push,it:pull", fast);
        const back = loggedAt(dmz.lines.find((l) => /Listening on/.test(l))!);
        // Fresh: a value the plant made after the dmz was back, Good at the last hop.
        const seen = await waitFor("fresh data at the last hop", () => {
          for (const p of ops.hop.store.values()) {
            if (p.id.startsWith("plant1/sim/") && isGood(p.status) && p.time > back) {
              return Date.now();
            }
          }
          return undefined;
        }, 15_000);
        took.push(seen - back);
      }
      console.log(`fresh data at the last hop ${took.join(", ")} ms after the dmz listened again`);
      for (const ms of took) assert(ms < 1000, `fresh data after ${ms} ms: ${took}`);
    } finally {
      await stopAll(plant, it, dmz);
    }
  },
});
