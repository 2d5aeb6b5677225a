import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { ManualClock } from "./clock.ts";
import { RefusalLog, type RefusalSink } from "./refusal_log.ts";

/** A sink that keeps each line's template and properties. */
function recorder() {
  const lines: { message: string; properties: Record<string, unknown> }[] = [];
  const sink: RefusalSink = { warn: (message, properties) => lines.push({ message, properties }) };
  return { lines, sink };
}

Deno.test("the first refusal of each reason in an interval is logged in full, the rest in one summary", () => {
  const clock = new ManualClock(0);
  const { lines, sink } = recorder();
  const log = new RefusalLog({ log: sink, clock, interval: 10_000 });
  log.refuse({ reason: "handshake timeout", remote: "10.0.0.1", detail: "no handshake in 3 s" });
  log.refuse({
    reason: "not in --peers",
    remote: "10.0.0.2",
    detail: "its certificate names mallory",
    what: "link",
  });
  for (let i = 0; i < 100; i++) {
    log.refuse({ reason: "handshake timeout", remote: `10.0.0.${i % 3 + 1}`, detail: "x" });
  }
  log.refuse({ reason: "not in --peers", remote: "10.0.0.9", detail: "y", what: "link" });
  assertEquals(lines.map((l) => l.message), [
    "Refused a connection from {remote}: {detail}",
    "Refused a link from {remote}: {detail}",
  ]);
  assertEquals(lines[0]!.properties.remote, "10.0.0.1");
  assertEquals(lines[1]!.properties.detail, "its certificate names mallory");

  clock.advance(9_999);
  assertEquals(lines.length, 2, "no summary before the interval ends");
  clock.advance(1);
  assertEquals(lines.length, 3);
  const summary = lines[2]!.properties;
  assertEquals(summary.count, 101);
  assertEquals(summary.seconds, 10);
  assertEquals(summary.reasons, "100 handshake timeout, 1 not in --peers");
  assertEquals(
    summary.sources,
    "4 addresses: 10.0.0.1 ×34, 10.0.0.2 ×33, 10.0.0.3 ×33, 10.0.0.9 ×1",
  );
  assertEquals(log.total, 103);

  // A quiet interval logs nothing; the next refusal starts a new interval with a full line.
  clock.advance(60_000);
  assertEquals(lines.length, 3);
  assertEquals(clock.pending, 0, "no timer runs while nothing is refused");
  log.refuse({ reason: "handshake timeout", remote: "10.0.0.5", detail: "z" });
  assertEquals(lines.length, 4);
  assertEquals(lines[3]!.properties.remote, "10.0.0.5");
  clock.advance(10_000);
  assertEquals(lines.length, 4, "an interval with only full lines needs no summary");
});

Deno.test("a summary names a few addresses and memory stays bounded under refusals from many", () => {
  const clock = new ManualClock(0);
  const { lines, sink } = recorder();
  const log = new RefusalLog({ log: sink, clock, interval: 10_000, named: 2, tracked: 50 });
  log.refuse({ reason: "pending cap", remote: "first", detail: "d" });
  for (let i = 0; i < 10_000; i++) {
    log.refuse({ reason: "pending cap", remote: `2001:db8::${i.toString(16)}`, detail: "d" });
  }
  // Reasons are bounded too, should a caller pass varying ones.
  for (let i = 0; i < 100; i++) log.refuse({ reason: `r${i}`, remote: "x", detail: "d" });
  clock.advance(3_000);
  log.flush();
  assertEquals(clock.pending, 0);
  const lastLines = lines.slice(-1);
  const s = lastLines[0]!.properties;
  assertEquals(s.seconds, 3);
  assertEquals(s.addresses, 50, "distinct addresses counted are capped");
  // 9,950 from addresses beyond the 50 tracked, and 69 under reasons beyond the 32 kept apart.
  assertEquals(s.untracked, 9_950 + 69);
  assertEquals(s.count, 10_000 + 69);
  assertEquals(s.sources, "more than 50 addresses: 2001:db8::0 ×1, 2001:db8::1 ×1 and others");
  assert(String(s.reasons).includes("other reasons"), String(s.reasons));
  // 1 + 31 reasons logged in full, then one summary.
  assertEquals(lines.length, 33);
});

Deno.test("a summary of refusals from one address names it", () => {
  const clock = new ManualClock(0);
  const { lines, sink } = recorder();
  const log = new RefusalLog({ log: sink, clock });
  for (let i = 0; i < 30; i++) log.refuse({ reason: "r", remote: "127.0.0.3", detail: "d" });
  clock.advance(10_000);
  assertEquals(lines.length, 2);
  assertEquals(lines[1]!.properties.sources, "127.0.0.3 ×29");
  assertEquals(lines[1]!.properties.reasons, "29 r");
});
