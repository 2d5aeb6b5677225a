import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { ManualClock, PointStore, Status } from "../../core/mod.ts";
import { eventIntervalMs, maxEventClients, StatusEvents } from "./status_events.ts";
import type { StatusInfo } from "./status_info.ts";

function feed() {
  const clock = new ManualClock();
  const store = new PointStore("dmz");
  const events = new StatusEvents({
    hop: "dmz",
    store,
    clock,
    statuses: () => [],
    info: () => Promise.resolve({ hop: "dmz" } as StatusInfo),
  });
  const set = (v: number) =>
    store.apply({
      id: "dmz/sim/0",
      value: v,
      type: "Double",
      status: Status.Good,
      time: clock.now(),
      hops: [],
      cause: null,
    }, "sim");
  return { clock, events, set };
}

/** Collects the names of the events a client's stream brings, as they arrive. */
function collect(body: ReadableStream<Uint8Array>): { take(): Promise<string[]> } {
  const names: string[] = [];
  const text = new TextDecoder();
  void (async () => {
    for await (const chunk of body) {
      for (const m of text.decode(chunk).matchAll(/^event: (\w+)$/gm)) names.push(m[1]!);
    }
  })().catch(() => {});
  return {
    /** The events since the last call, once the stream had a moment to deliver them. */
    take: async () => {
      await new Promise((r) => setTimeout(r, 20));
      return names.splice(0);
    },
  };
}

Deno.test("the live feed takes at most its cap of clients and sends a view only when something changed", async () => {
  const { clock, events, set } = feed();
  set(1);
  const responses = Array.from({ length: maxEventClients }, () => events.open(""));
  assert(responses.every((r) => r.status === 200));
  const refused = events.open("");
  assertEquals(refused.status, 503);
  await refused.body?.cancel();
  // One leaves: a place is free again.
  await responses.pop()!.body!.cancel();
  const last = events.open("");
  assertEquals(last.status, 200);
  responses.push(last);

  const client = collect(responses[0]!.body!);
  assertEquals((await client.take()).sort(), ["info", "view"]);
  // Nothing changed: no view, until a second has passed (for the rates).
  clock.advance(eventIntervalMs);
  assertEquals(await client.take(), []);
  // Changes within one interval make one view.
  set(2);
  set(3);
  clock.advance(eventIntervalMs);
  assertEquals(await client.take(), ["view"]);
  clock.advance(1000);
  assertEquals(await client.take(), ["view"]);

  events.close();
  assertEquals(events.clients, 0);
  for (const r of responses.slice(1)) await r.body?.cancel().catch(() => {});
});

Deno.test("the live feed sends the info again when it changes (a certificate renewed), and only then", async () => {
  const clock = new ManualClock();
  let serial = "01";
  const events = new StatusEvents({
    hop: "dmz",
    store: new PointStore("dmz"),
    clock,
    statuses: () => [],
    info: () => Promise.resolve({ hop: "dmz" } as StatusInfo),
    infoKey: () => serial,
  });
  const client = collect(events.open("").body!);
  assertEquals((await client.take()).sort(), ["info", "view"]);
  clock.advance(eventIntervalMs);
  assertEquals(await client.take(), []);
  serial = "02";
  clock.advance(eventIntervalMs);
  assertEquals(await client.take(), ["info"]);
  clock.advance(eventIntervalMs);
  assertEquals(await client.take(), []);
  events.close();
});
