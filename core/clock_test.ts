import { deepStrictEqual as assertEquals } from "node:assert";
import { Backoff } from "./backoff.ts";
import { ManualClock } from "./clock.ts";

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
