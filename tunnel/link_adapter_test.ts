import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import {
  adapterContext,
  type HopConfig,
  type HopContext,
  initCa,
  issueHopCert,
  logger,
  ManualClock,
  PointStore,
  Status,
} from "../core/mod.ts";
import { waitFor } from "../tests/kit/helpers.ts";
import { LinkAdapter } from "./link_adapter.ts";
import { linkPointIds } from "./link_points.ts";

/** A TCP port that accepts and at once closes every connection, counting them. */
function slammer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const state = { accepted: 0, port: (listener.addr as Deno.NetAddr).port };
  const loop = (async () => {
    for await (const c of listener) {
      state.accepted++;
      c.close();
    }
  })();
  return {
    state,
    [Symbol.asyncDispose]: async () => {
      listener.close();
      await loop.catch(() => {});
    },
  };
}

/** The kit's waitFor, polling every 5 ms: the retry tests step through many attempts. */
const until = (what: string, check: () => boolean) => waitFor(what, check, 20_000, 5);

Deno.test("a dialer tries each address in turn, then backs off before the next round", async () => {
  const dir = await Deno.makeTempDir();
  await using a = slammer();
  await using b = slammer();
  const clock = new ManualClock();
  const store = new PointStore("plant1");
  const adapter = new LinkAdapter("dmz", {
    kind: "dial",
    direction: "push",
    addresses: [{ host: "127.0.0.1", port: a.state.port }, {
      host: "127.0.0.1",
      port: b.state.port,
    }],
  }, { heartbeat: 1000, linkTimeout: 5000, maxFrame: 1 << 20, writeTimeout: 1000 });
  try {
    await initCa(join(dir, "ca"));
    const files = await issueHopCert("plant1", { caDir: join(dir, "ca"), outDir: dir });
    const ctx = adapterContext(adapter, {
      hop: "plant1",
      // The dialling adapter reads only the certificate paths from the config.
      config: { tlsCert: files.cert, tlsKey: files.key, tlsCa: files.ca } as HopConfig,
      store,
      clock,
      signal: new AbortController().signal,
      log: logger("test"),
      write: () => Promise.resolve(Status.BadNotWritable),
    });
    await adapter.start(ctx);
    const ids = linkPointIds("plant1", "dmz");
    assertEquals(store.get(ids.connected)?.value, false);
    assertEquals(store.get(ids.rtt)?.status, Status.BadWaitingForInitialData);

    // First address refused: the next one is tried at once (a zero delay), not after a backoff.
    await until("the first address to fail", () =>
      a.state.accepted === 1 && clock.pending === 1 &&
      (adapter.status().lastError ?? "").includes(String(a.state.port)));
    assertEquals(b.state.accepted, 0);
    clock.advance(0);
    await until("the second address to fail", () =>
      b.state.accepted === 1 && clock.pending === 1 &&
      (adapter.status().lastError ?? "").includes(String(b.state.port)));

    // Both failed: the next round waits for a backoff with jitter, between 100 and 200 ms.
    clock.advance(99);
    assertEquals(clock.pending, 1, "no attempt before the backoff has passed");
    clock.advance(101);
    await until("the next round to start at the first address", () => a.state.accepted === 2);
    assertEquals(adapter.status().connection, "connecting");
    assert(adapter.status().run === "running");
  } finally {
    await adapter.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a dialer retries 100-500 ms apart for the first minute of an outage, then 1-2 s apart, and logs the same failure once a minute", async () => {
  const dir = await Deno.makeTempDir();
  await using a = slammer();
  const clock = new ManualClock();
  const store = new PointStore("plant1");
  const adapter = new LinkAdapter("dmz", {
    kind: "dial",
    direction: "push",
    addresses: [{ host: "127.0.0.1", port: a.state.port }],
  }, { heartbeat: 1000, linkTimeout: 5000, maxFrame: 1 << 20, writeTimeout: 1000 });
  const warnings: Record<string, unknown>[] = [];
  const log = {
    warn: (_: string, props: Record<string, unknown>) => void warnings.push(props),
    info: () => {},
    error: () => {},
    debug: () => {},
  } as unknown as HopContext["log"];
  try {
    await initCa(join(dir, "ca"));
    const files = await issueHopCert("plant1", { caDir: join(dir, "ca"), outDir: dir });
    await adapter.start(adapterContext(adapter, {
      hop: "plant1",
      config: { tlsCert: files.cert, tlsKey: files.key, tlsCa: files.ca } as HopConfig,
      store,
      clock,
      signal: new AbortController().signal,
      log,
      write: () => Promise.resolve(Status.BadNotWritable),
    }));
    const t0 = clock.now();
    const delays: { at: number; delay: number }[] = [];
    for (let attempt = 1; clock.now() - t0 < 130_000; attempt++) {
      // The only timer left is the retry's (a dial in flight has its 5 s connect timeout).
      const ready = () =>
        a.state.accepted >= attempt && clock.pending === 1 && clock.nextDelay()! <= 2000;
      const since = Date.now();
      while (!ready()) {
        if (Date.now() - since > 20_000) throw new Error(`Attempt ${attempt} did not fail`);
        // A refused handshake the runtime is slow to report closed is given up at the dial's
        // own timeout, as in a hop (on a busy machine this happens now and then).
        if (Date.now() - since > 2000 && clock.pending === 1 && clock.nextDelay() === 5000) {
          clock.advance(5000);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      const delay = clock.nextDelay()!;
      delays.push({ at: clock.now() - t0, delay });
      clock.advance(delay);
    }
    const fast = delays.filter((d) => d.at < 60_000).map((d) => d.delay);
    const slow = delays.filter((d) => d.at >= 60_000).map((d) => d.delay);
    assert(fast.every((d) => d >= 100 && d <= 500), `fast pace: ${fast.join(", ")}`);
    assert(fast.length >= 60 && fast.length <= 600, `${fast.length} attempts in the first minute`);
    assert(slow.every((d) => d >= 1000 && d <= 2000), `slow pace: ${slow.join(", ")}`);
    // The same failure all along: logged at the first attempt, then once a minute.
    assertEquals(warnings.length, 3, JSON.stringify(warnings.map((w) => w.attempt)));
    assertEquals(warnings[0]!.attempt, 1);
  } finally {
    await adapter.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
