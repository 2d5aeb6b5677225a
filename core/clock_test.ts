import assert, { deepStrictEqual as assertEquals } from "node:assert";
import { Backoff } from "./backoff.ts";
import { ManualClock, sleep, withTimeout } from "./clock.ts";

Deno.test("manual clock fires timers in order, including ones set while firing", () => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
  clock.setTimeout(() => {
    fired.push(`a@${clock.now()}`);
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 5);
  }, 10);
  const cancelled = clock.setTimeout(() => fired.push("x"), 15);
  clock.clearTimeout(cancelled);
  clock.advance(30);
  assertEquals(fired, ["a@10", "c@15", "b@20"]);
});

Deno.test("backoff grows exponentially with jitter, is capped, and resets", () => {
  const b = new Backoff({ initial: 100, max: 1000, random: () => 1 });
  assertEquals([b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000]);
  b.reset();
  const low = new Backoff({ initial: 100, max: 1000, random: () => 0 });
  assertEquals(low.next(), 50);
  assertEquals(b.next(), 100);
});

Deno.test("withTimeout settles as the promise does, or rejects naming what timed out", async () => {
  const clock = new ManualClock(0);
  assertEquals(await withTimeout(Promise.resolve(7), 100, { clock }), 7);
  assertEquals(clock.pending, 0);
  const slow = withTimeout(new Promise(() => {}), 100, { what: "connect", clock });
  clock.advance(100);
  await assert.rejects(slow, /^Error: connect timed out after 100 ms$/);
});

Deno.test("sleep waits on its clock and stops early, rejecting, when its signal aborts", async () => {
  const clock = new ManualClock(0);
  let woke = false;
  const nap = sleep(50, { clock }).then(() => woke = true);
  clock.advance(49);
  await Promise.resolve();
  assertEquals(woke, false);
  clock.advance(1);
  await nap;
  const stop = new AbortController();
  const cut = sleep(1_000, { clock, signal: stop.signal });
  stop.abort(new Error("stopping"));
  await assert.rejects(cut, /stopping/);
  assertEquals(clock.pending, 0);
});
