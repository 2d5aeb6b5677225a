import "../adapters/all.ts";
import { deepStrictEqual as assertEquals } from "node:assert";
import type { Adapter, AdapterStatus, HopContext, WriteRequest } from "./adapter.ts";
import { ManualClock } from "./clock.ts";
import { resolveConfig } from "./config/mod.ts";
import { Hop } from "./hop.ts";
import { Status, type StatusCode } from "./status.ts";
import { startLoadWaitMs } from "./adapter.ts";
import { waitFor } from "../tests/kit/helpers.ts";

/** A source that owns one point and records writes; `answer` decides the result. */
class FakeSource implements Adapter {
  readonly name = "fake";
  readonly kind = "fake";
  writes: WriteRequest[] = [];
  answer: () => Promise<StatusCode> = () => Promise.resolve(Status.Good);
  ctx: HopContext | null = null;
  start(ctx: HopContext) {
    this.ctx = ctx;
    ctx.store.apply({
      id: "plant1/fake/x",
      value: 1,
      type: "Double",
      status: Status.Good,
      time: 0,
      hops: [],
      cause: null,
    }, this.name);
    return Promise.resolve();
  }
  stop() {
    return Promise.resolve();
  }
  status(): AdapterStatus {
    return {
      name: "fake",
      kind: "fake",
      run: "running",
      connection: "connected",
      since: 0,
      lastError: null,
    };
  }
  write(r: WriteRequest) {
    this.writes.push(r);
    return this.answer();
  }
}

Deno.test("writes are refused unless --writable allows them, and reach the origin when it does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/certs`);
    for (const f of ["plant1.crt", "plant1.key", "ca.crt"]) {
      await Deno.writeTextFile(`${dir}/certs/${f}`, "x");
    }
    const make = (writable: string[]) =>
      resolveConfig([{
        label: null,
        baseDir: dir,
        values: { name: "plant1", "data-dir": dir, push: "dmz=127.0.0.1:1", writable },
      }]);
    const src = new FakeSource();
    const locked = new Hop(make([]), [src]);
    await locked.start();
    assertEquals(
      await locked.write({ id: "plant1/fake/x", value: 2, via: ["it"] }),
      Status.BadNotWritable,
    );
    assertEquals(src.writes.length, 0);
    await locked.stop();

    const src2 = new FakeSource();
    const open = new Hop(make(["plant1/fake/*"]), [src2]);
    await open.start();
    assertEquals(await open.write({ id: "plant1/fake/x", value: 2, via: ["it"] }), Status.Good);
    assertEquals(src2.writes, [{ id: "plant1/fake/x", value: 2, via: ["it", "plant1"] }]);
    assertEquals(
      await open.write({ id: "plant1/fake/x", value: "two", via: [] }),
      Status.BadTypeMismatch,
    );
    assertEquals(
      await open.write({ id: "plant1/fake/nope", value: 2, via: [] }),
      Status.BadNodeIdUnknown,
    );
    open.store.failOrigin("fake", { hop: "plant1", via: "fake", since: 0, reason: "test" });
    open.store.apply({
      ...open.store.get("plant1/fake/x")!,
      value: null,
      status: Status.BadNoCommunication,
      hops: [],
    }, "fake");
    assertEquals(
      await open.write({ id: "plant1/fake/x", value: 3, via: [] }),
      Status.BadNoCommunication,
    );
    assertEquals(src2.writes.length, 1, "a bad-status point is never written");
    await open.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a write whose origin does not answer fails with BadTimeout", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const clock = new ManualClock();
    const config = resolveConfig([{
      label: null,
      baseDir: dir,
      values: { name: "plant1", "data-dir": dir, sim: 1, writable: "**", "write-timeout": "2s" },
    }]);
    const src = new FakeSource();
    src.answer = () => new Promise(() => {});
    const hop = new Hop(config, [src], { clock });
    await hop.start();
    const result = hop.write({ id: "plant1/fake/x", value: 5, via: [] });
    await Promise.resolve();
    clock.advance(2000);
    assertEquals(await result, Status.BadTimeout);
    await hop.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a stop requested while the hop is starting waits for that start and starts no more", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = resolveConfig([{
      label: null,
      baseDir: dir,
      values: { name: "plant1", "data-dir": dir, sim: 1, "status-interval": 0 },
    }]);
    const events: string[] = [];
    let release = () => {};
    const slow = new FakeSource();
    slow.start = (ctx) => {
      events.push("slow start");
      return new Promise<void>((r) => release = r).then(() =>
        FakeSource.prototype.start.call(slow, ctx)
      );
    };
    slow.stop = () => (events.push("slow stop"), Promise.resolve());
    const later = { ...new FakeSource(), name: "later", kind: "fake" } as unknown as FakeSource;
    later.start = () => (events.push("later start"), Promise.resolve());
    later.stop = () => (events.push("later stop"), Promise.resolve());
    later.status = slow.status;
    const hop = new Hop(config, [slow, later]);
    const running = hop.runUntilStopped();
    await waitFor("the slow adapter to start", () => events.includes("slow start"), 5000);
    const stopped = hop.stop("test");
    release();
    await stopped;
    await running;
    assertEquals(events, ["slow start", "slow stop", "later stop"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the hop gives each adapter, as it starts it, its own status tracker on the hop's clock and its name as origin", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const clock = new ManualClock(5000);
    const config = resolveConfig([{
      label: null,
      baseDir: dir,
      values: { name: "plant1", "data-dir": dir, sim: 1 },
    }]);
    const a = new FakeSource();
    const b = { ...new FakeSource(), name: "other", kind: "other" } as unknown as FakeSource;
    b.start = FakeSource.prototype.start;
    b.stop = FakeSource.prototype.stop;
    const hop = new Hop(config, [a, b], { clock });
    clock.advance(100);
    await hop.start();
    assertEquals(a.ctx!.status.get(), {
      name: "fake",
      kind: "fake",
      run: "stopped",
      connection: "down",
      since: 5100,
      lastError: null,
      counters: { updates_applied: 0 },
    });
    assertEquals(b.ctx!.status.get().name, "other");
    a.ctx!.apply({ ...hop.store.get("plant1/fake/x")!, value: 2, hops: [] });
    assertEquals(hop.store.get("plant1/fake/x")?.origin, "fake");
    await hop.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** An adapter whose start announces a one-off load (a pulling link's first snapshot). */
class LoadingSource extends FakeSource {
  loaded: (() => void) | null = null;
  override start(ctx: HopContext) {
    this.loaded = ctx.startLoad!("the first snapshot from dmz");
    return super.start(ctx);
  }
}

/**
 * Runs `body` with the hop's `gc` (what `--expose-gc` gives it) replaced by a
 * recorder of the collections asked for, and a hop of `adapter` on a manual
 * clock, running until `body` ends.
 */
async function withRecordedGc(
  adapter: Adapter,
  body: (h: { hop: Hop; clock: ManualClock; collections: unknown[] }) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  const g = globalThis as { gc?: unknown };
  const before = g.gc;
  const collections: unknown[] = [];
  g.gc = (options: unknown) => collections.push(options);
  try {
    const clock = new ManualClock(0);
    const config = resolveConfig([{
      label: null,
      baseDir: dir,
      values: { name: "plant1", "data-dir": dir, sim: 1, "status-interval": 0 },
    }]);
    const hop = new Hop(config, [adapter], { clock });
    const running = hop.runUntilStopped();
    // Started: the memory release looks every second (and a load waits on its own timer).
    await waitFor("the hop's memory release", () => clock.pending > 0, 5000);
    await body({ hop, clock, collections });
    await hop.stop("test");
    await running;
    assertEquals(clock.pending, 0, "a stopped hop leaves no timer behind");
  } finally {
    if (before === undefined) delete g.gc;
    else g.gc = before;
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a hop without start-up loads collects at once as it has started", async () => {
  await withRecordedGc(new FakeSource(), ({ collections }) => {
    assertEquals(collections, [{ type: "major", flavor: "last-resort" }]);
    return Promise.resolve();
  });
});

Deno.test("the start-up collection waits for the load an adapter announced, and runs as it is in", async () => {
  const source = new LoadingSource();
  await withRecordedGc(source, ({ clock, collections }) => {
    assertEquals(clock.pending, 2, "the memory release's look and the load's longest wait");
    assertEquals(collections, [], "not before the load");
    source.loaded!();
    // A regular one: data may be flowing by then, and the last-resort kind shrinks the young generation.
    assertEquals(collections, [{ type: "major" }]);
    source.loaded!();
    assertEquals(collections.length, 1, "said twice, collected once");
    return Promise.resolve();
  });
});

Deno.test(`the start-up collection waits ${startLoadWaitMs / 1000} s at the most for a load that does not come`, async () => {
  const source = new LoadingSource();
  await withRecordedGc(source, ({ hop, clock, collections }) => {
    // Data flows meanwhile, so the memory release's quiet looks do not collect either.
    const tick = (ms: number) => {
      for (let i = 0; i < 200; i++) {
        hop.store.apply({
          id: "plant1/fake/x",
          value: i,
          type: "Double",
          status: Status.Good,
          time: 0,
          hops: [],
          cause: null,
        }, "fake");
      }
      clock.advance(ms);
    };
    for (let s = 1; s < startLoadWaitMs / 1000; s++) tick(1000);
    tick(999);
    assertEquals(collections, [], "not before the longest wait");
    tick(1);
    assertEquals(collections, [{ type: "major" }]);
    source.loaded!();
    assertEquals(collections.length, 1, "a load that comes later changes nothing");
    return Promise.resolve();
  });
});

Deno.test("a hop stopped before its start-up load is in collects nothing and leaves no timer", async () => {
  await withRecordedGc(new LoadingSource(), ({ clock, collections }) => {
    assertEquals(clock.pending, 2);
    assertEquals(collections, []);
    return Promise.resolve();
  });
});
