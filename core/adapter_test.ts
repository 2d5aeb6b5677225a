import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert";
import {
  type Adapter,
  adapterContext,
  type AdapterStatus,
  type HopContext,
  type HopServices,
  LazyAdapter,
  notStarted,
  type WriteRequest,
} from "./adapter.ts";
import { ManualClock } from "./clock.ts";
import type { HopConfig } from "./config/mod.ts";
import { logger } from "./log.ts";
import { PointStore } from "./point_store.ts";
import { Status, type StatusCode } from "./status.ts";

function services(clock = new ManualClock(1000)): HopServices {
  return {
    hop: "plant1",
    config: {} as HopConfig,
    store: new PointStore("plant1"),
    clock,
    signal: new AbortController().signal,
    log: logger("test"),
    write: () => Promise.resolve(Status.BadNotWritable),
  };
}

const point = (id: string, value: number) => ({
  id,
  value,
  type: "Double" as const,
  status: Status.Good,
  time: 0,
  hops: [],
  cause: null,
});

Deno.test("an adapter's context carries its own status tracker on the hop's clock, and binds its name as origin", () => {
  const clock = new ManualClock(1000);
  const ctx = adapterContext({ name: "opcua:plc1", kind: "opcua" }, services(clock));
  assertEquals(ctx.status.get(), {
    name: "opcua:plc1",
    kind: "opcua",
    run: "stopped",
    connection: "down",
    since: 1000,
    lastError: null,
    counters: { updates_applied: 0 },
  });
  clock.advance(500);
  ctx.status.connection("connected");
  assertEquals(ctx.status.get().since, 1500);

  ctx.apply(point("plant1/plc1/a", 1));
  ctx.apply(point("plant1/plc1/b", 2));
  ctx.store.apply(point("plant1/other/c", 3), "other");
  assertEquals(ctx.store.get("plant1/plc1/a")?.origin, "opcua:plc1");

  assertEquals(ctx.failAll("connection lost"), 2);
  assertEquals(
    ctx.store.get("plant1/plc1/a")?.status,
    Status.UncertainNoCommunicationLastUsableValue,
  );
  assertEquals(ctx.store.get("plant1/plc1/a")?.cause, {
    hop: "plant1",
    via: "opcua:plc1",
    since: 1500,
    reason: "connection lost",
  });
  assertEquals(ctx.store.get("plant1/other/c")?.status, Status.Good);

  assertEquals(ctx.removeAllBut(new Set(["plant1/plc1/a"])), 1);
  assertEquals(ctx.store.get("plant1/plc1/b"), undefined);
  assert(ctx.store.get("plant1/other/c"));
});

Deno.test("an adapter not started reads stopped and down", () => {
  const before = Date.now();
  const s = notStarted({ name: "sim", kind: "sim" });
  assert(s.since >= before && s.since <= Date.now());
  assertEquals({ ...s, since: 0 }, {
    name: "sim",
    kind: "sim",
    run: "stopped",
    connection: "down",
    since: 0,
    lastError: null,
  });
});

/** An adapter that records what happens to it; its status is its context's. */
class Recorder implements Adapter {
  readonly name = "rec";
  readonly kind = "test";
  ctx: HopContext | null = null;
  writes: WriteRequest[] = [];
  start(ctx: HopContext): Promise<void> {
    this.ctx = ctx;
    ctx.status.running("running");
    return Promise.resolve();
  }
  stop(): Promise<void> {
    this.ctx?.status.running("stopped");
    return Promise.resolve();
  }
  status(): AdapterStatus {
    return this.ctx?.status.get() ?? notStarted(this);
  }
  write(request: WriteRequest): Promise<StatusCode> {
    this.writes.push(request);
    return Promise.resolve(Status.Good);
  }
}

Deno.test("a lazy adapter loads its implementation only when started, and runs it with its own context", async () => {
  let loads = 0;
  const real = new Recorder();
  const lazy = new LazyAdapter("opcua:plc1", "opcua", () => {
    loads++;
    return Promise.resolve(real);
  }, { writes: true });
  assertEquals(loads, 0);
  assertEquals(lazy.loaded, null);
  assertEquals(lazy.status().run, "stopped");
  assertEquals(lazy.status().name, "opcua:plc1");
  await rejects(lazy.write!({ id: "x", value: 1, via: [] }), /opcua:plc1 cannot write yet/);

  const ctx = adapterContext(lazy, services());
  await lazy.start(ctx);
  assertEquals(loads, 1);
  assertEquals(lazy.loaded, real);
  assertEquals(real.ctx, ctx);
  assertEquals(lazy.status(), { ...ctx.status.get(), run: "running" });
  assertEquals(lazy.status().name, "opcua:plc1");
  assertEquals(await lazy.write!({ id: "x", value: 1, via: [] }), Status.Good);
  assertEquals(real.writes.length, 1);
  await lazy.stop();
  assertEquals(lazy.status().run, "stopped");
});

Deno.test("a lazy adapter made without writes has no write, so the hop refuses writes to it", () => {
  const lazy = new LazyAdapter("mqtt", "mqtt", () => Promise.resolve(new Recorder()));
  assertEquals(lazy.write, undefined);
});

Deno.test("a lazy adapter stopped while starting waits for the start, then stops what it loaded", async () => {
  const real = new Recorder();
  let release = () => {};
  const lazy = new LazyAdapter(
    "rec",
    "test",
    () => new Promise<Adapter>((r) => release = () => r(real)),
  );
  const starting = lazy.start(adapterContext(lazy, services()));
  const stopping = lazy.stop();
  release();
  await starting;
  await stopping;
  assertEquals(lazy.status().run, "stopped");
});
