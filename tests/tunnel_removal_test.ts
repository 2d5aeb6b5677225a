/**
 * Points removed at their origin while the chain was broken are removed at
 * every hop downstream once it is whole again, however the chain came back:
 * the relay's snapshot says which points exist, and a relay that has only
 * just heard from the origin again says so once it has.
 */
import { deepStrictEqual as assertEquals } from "node:assert";
import { isGood, Status } from "../core/mod.ts";
import {
  chainCerts,
  LinkProxy,
  localHop,
  pointsOf,
  startDmz,
  startHop,
  stopAll,
  waitForPoints,
} from "./kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "./kit/helpers.ts";

const fast = ["--heartbeat", "200ms", "--link-timeout", "1s"];
const unsanitized = { sanitizeOps: false, sanitizeResources: false };

/** src (in this process, pushing through a proxy) → dmz ← it (through a proxy) ← ops. */
async function chain(dir: string) {
  await chainCerts(dir, ["src", "dmz", "it", "ops"]);
  const dmzPort = freePort(), itPort = freePort();
  const srcProxy = new LinkProxy(dmzPort), itProxy = new LinkProxy(dmzPort);
  const procs: { dmz: Proc | null; it: Proc | null } = { dmz: null, it: null };
  const startDmzHop = async () =>
    procs.dmz = await startDmz(dir, dmzPort, "src:push,it:pull", [...fast]);
  await startDmzHop();
  procs.it = await startHop(dir, "it", [
    "--pull",
    `dmz=127.0.0.1:${itProxy.port}`,
    "--listen",
    `127.0.0.1:${itPort}`,
    "--peers",
    "ops:pull",
    ...fast,
  ]);
  const src = await localHop(dir, "src", ["--push", `dmz=127.0.0.1:${srcProxy.port}`, ...fast]);
  const ops = await localHop(dir, "ops", ["--pull", `it=127.0.0.1:${itPort}`, ...fast]);
  const put = (i: number, value: number) =>
    src.hop.store.apply({
      id: `src/p/${i}`,
      value,
      type: "Double",
      status: Status.Good,
      time: Date.now(),
      hops: [],
      cause: null,
    }, "test");
  for (let i = 0; i < 100; i++) put(i, i);
  await waitForPoints(ops.hop, "src/p/", 100, "good", 20_000);
  /** Waits until ops holds exactly src's points, all Good and equal. */
  const converged = async () => {
    const want = () => pointsOf(src.hop.store.values(), "src/p/").map((p) => [p.id, p.value]);
    let last: unknown[] = [];
    await waitFor("ops to hold exactly the source's points", () => {
      const held = pointsOf(ops.hop.store.values(), "src/p/");
      last = held.map((p) => [p.id, p.value, isGood(p.status)]);
      return held.length === want().length && held.every((p) => isGood(p.status)) &&
        JSON.stringify(held.map((p) => [p.id, p.value])) === JSON.stringify(want());
    }, 20_000).catch((e) => {
      throw new Error(
        `${(e as Error).message}: ops holds ${JSON.stringify(last.slice(0, 5))}… (${last.length})`,
      );
    });
    assertEquals(
      pointsOf(ops.hop.store.values(), "src/p/").map((p) => [p.id, p.value]),
      want(),
    );
  };
  return {
    procs,
    src,
    ops,
    put,
    srcProxy,
    itProxy,
    startDmzHop,
    converged,
    async close() {
      await Promise.resolve(ops[Symbol.asyncDispose]()).catch(() => {});
      await Promise.resolve(src[Symbol.asyncDispose]()).catch(() => {});
      await stopAll(procs.it, procs.dmz);
      await srcProxy.close();
      await itProxy.close();
    },
  };
}

Deno.test({
  name:
    "points removed at the origin while the dmz was down and restarting are removed downstream when the chain is back",
  ...unsanitized,
  fn: async () => {
    await using dir = await tempDir();
    const c = await chain(dir.path);
    try {
      c.srcProxy.blackHole();
      await c.procs.dmz!.stop("SIGKILL");
      for (let i = 0; i < 100; i += 10) c.src.hop.store.remove(`src/p/${i}`);
      c.put(1, 1001);
      await c.startDmzHop();
      // it reconnects to the new dmz first, which has nothing from src yet: kept, failed.
      await waitFor(
        "it to resynchronise with the new dmz",
        () => c.procs.it!.lines.filter((l) => /Snapshot from dmz/.test(l)).length >= 2,
        20_000,
      );
      await waitForPoints(c.ops.hop, "src/p/", 100, "uncertain", 20_000);
      c.srcProxy.restore();
      await c.converged();
    } finally {
      await c.close();
    }
  },
});

Deno.test({
  name:
    "points removed at the origin while both links of the dmz were down are removed downstream when the chain is back",
  ...unsanitized,
  fn: async () => {
    await using dir = await tempDir();
    const c = await chain(dir.path);
    try {
      c.srcProxy.blackHole();
      c.itProxy.blackHole();
      await waitForPoints(c.ops.hop, "src/p/", 100, "uncertain", 20_000);
      for (let i = 5; i < 100; i += 10) c.src.hop.store.remove(`src/p/${i}`);
      c.put(2, 2002);
      // The dmz hears from src first and drops the points; it is told only by its snapshot.
      c.srcProxy.restore();
      await c.procs.dmz!.waitForLine(/Snapshot from src: \d+ points, 10 removed/, 20_000);
      c.itProxy.restore();
      await c.converged();
    } finally {
      await c.close();
    }
  },
});
