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
const until = (what: string, check: () => boolean) => waitFor(what, check, 10_000, 5);

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

    // Both failed: the next round waits for a backoff with jitter, between 125 and 250 ms.
    clock.advance(124);
    assertEquals(clock.pending, 1, "no attempt before the backoff has passed");
    clock.advance(126);
    await until("the next round to start at the first address", () => a.state.accepted === 2);
    assertEquals(adapter.status().connection, "connecting");
    assert(adapter.status().run === "running");
  } finally {
    await adapter.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a dialer's retries stay at most 2 s apart, and a long outage logs its failure once per 30 attempts", async () => {
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
    for (let attempt = 1; attempt <= 32; attempt++) {
      // The only timer left is the retry's (a dial in flight has its 5 s connect timeout).
      await until(
        `attempt ${attempt} to fail and a retry within 2 s`,
        () => a.state.accepted === attempt && clock.pending === 1 && clock.nextDelay()! <= 2000,
      );
      clock.advance(clock.nextDelay()!);
    }
    // The same failure 32 times: logged at the 1st and the 31st attempt only.
    assertEquals(warnings.map((w) => w.attempt), [1, 31]);
  } finally {
    await adapter.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
