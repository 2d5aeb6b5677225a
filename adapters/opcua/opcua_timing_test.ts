import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import {
  derivedQueue,
  fitKeepAlive,
  minSessionTimeout,
  sessionTiming,
  silenceLimit,
} from "./opcua_timing.ts";

Deno.test("keep-alive period stays near 5 s for every publishing interval", () => {
  assertEquals(sessionTiming(500, 250).keepAliveCount, 10);
  assertEquals(sessionTiming(100, 100).keepAliveCount, 50);
  assertEquals(sessionTiming(1_000, 1_000).keepAliveCount, 5);
  // Long intervals keep the 3 keep-alives node-opcua asks for at least.
  assertEquals(sessionTiming(10_000, 10_000).keepAliveCount, 3);
  assertEquals(sessionTiming(600_000, 1_000).keepAliveCount, 3);
});

Deno.test("session timeout exceeds the keep-alive period for every accepted publishing interval", () => {
  // The old fixed 10 keep-alives and 60 s session timeout broke every interval above 6 s.
  for (const p of [10, 100, 500, 1_000, 6_001, 7_000, 10_000, 60_000, 600_000]) {
    const t = sessionTiming(p, 250);
    const keepAlive = t.keepAliveCount * p;
    assert(t.sessionTimeout >= minSessionTimeout, `session timeout at ${p} ms`);
    assert(t.sessionTimeout >= 2 * keepAlive, `keep-alive ${keepAlive} vs ${t.sessionTimeout}`);
    assert(t.lifetimeCount >= 3 * t.keepAliveCount, `lifetime at ${p} ms`);
    assert(t.lifetimeCount * p >= 60_000, `lifetime at ${p} ms lasts a minute`);
  }
  assertEquals(sessionTiming(500, 250).sessionTimeout, 60_000);
  assertEquals(sessionTiming(10_000, 1_000).sessionTimeout, 120_000);
});

Deno.test("queue holds every sample of one publishing interval plus one, at least 2", () => {
  assertEquals(derivedQueue(500, 250), 3);
  assertEquals(derivedQueue(100, 100), 2);
  assertEquals(derivedQueue(1_000, 100), 11);
  // Sampling slower than publishing: still 2, so an overflow is flagged rather than silent.
  assertEquals(derivedQueue(100, 1_000), 2);
  // Sampling 0 (the server's fastest) assumes 10 ms; the derived queue is capped.
  assertEquals(derivedQueue(500, 0), 51);
  assertEquals(derivedQueue(60_000, 0), 100);
  // --opcua-queue wins.
  assertEquals(sessionTiming(500, 250, 1).queueSize, 1);
  assertEquals(sessionTiming(500, 250, 40).queueSize, 40);
});

Deno.test("keep-alive count shrinks to fit a session timeout the server cut", () => {
  const t = sessionTiming(100, 100); // 50 keep-alives of 100 ms
  assertEquals(fitKeepAlive(t, 100, 60_000), 50);
  assertEquals(fitKeepAlive(t, 100, 4_000), 20);
  // Never below 3: the caller then refuses with a message.
  assertEquals(fitKeepAlive(sessionTiming(10_000, 10_000), 10_000, 20_000), 3);
});

Deno.test("a PLC is given up after twice its keep-alive period plus 2 s", () => {
  assertEquals(silenceLimit(500, 10), 12_000);
  assertEquals(silenceLimit(10_000, 3), 62_000);
});
