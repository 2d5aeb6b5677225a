import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import type { LogRecord } from "@logtape/logtape";
import { escapeLogText, logFormatter, maxLogValue, worthLogging } from "./log.ts";

/** A record as `log.warn("Link with {peer} ended: {reason}", { peer, reason })` makes it. */
function record(peer: unknown, reason: unknown): LogRecord {
  return {
    category: ["hopgate", "link:it2"],
    level: "warning",
    message: ["Link with ", peer, " ended: ", reason, ""],
    rawMessage: "Link with {peer} ended: {reason}",
    timestamp: Date.UTC(2025, 0, 1),
    properties: { peer, reason },
  };
}

/** True for a character no log line may carry raw. */
function unsafe(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029 ||
    (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/** A close reason that would print a fake line and recolour the terminal if logged raw. */
const forged = "bye\n2025-01-01 00:00:00.000 +00:00 [ERR] hopgate·link: \x1b[31mALARM\x1b[0m" +
  "\r\u2028\u2029\u0085\u009b\x7f\x00\u202e";

Deno.test("control characters, line separators and bidi controls are escaped", () => {
  assertEquals(
    escapeLogText(forged),
    "bye\\n2025-01-01 00:00:00.000 +00:00 [ERR] hopgate·link: \\x1b[31mALARM\\x1b[0m" +
      "\\r\\u2028\\u2029\\x85\\x9b\\x7f\\x00\\u202e",
  );
  assertEquals(escapeLogText("plain text, é, 漢字, 🚀\ttab"), "plain text, é, 漢字, 🚀\\ttab");
  assertEquals(escapeLogText("lone \ud800 surrogate"), "lone \\ud800 surrogate");
});

Deno.test("a text log line carries a peer's text on one line, escaped and capped", () => {
  const format = logFormatter("text");
  const line = format(record("it2", forged));
  assertEquals(line.indexOf("\n"), line.length - 1, `one line: ${JSON.stringify(line)}`);
  assert(line.includes("ended: bye\\n2025-01-01"), line);
  for (let i = 0; i < line.length - 1; i++) {
    const c = line.charCodeAt(i);
    assert(!unsafe(c), `raw character ${c.toString(16)} in ${JSON.stringify(line)}`);
  }

  // A long value is cut, with its length; a cut does not split a surrogate pair.
  const long = format(record("it2", "🚀".repeat(5000)));
  assert(long.includes(`… (10000 characters)`), long.slice(-80));
  assert(long.length < maxLogValue + 200, `${long.length} characters`);
  assert(!/[\ud800-\udbff](?![\udc00-\udfff])/.test(long), "a lone high surrogate");

  // Other values are inspected on one line (an error's stack too) and escaped the same way.
  const err = new Error("boom\nsecond line");
  const objects = format(record({ name: "x\ny", list: [1, 2] }, err));
  assertEquals(objects.indexOf("\n"), objects.length - 1, objects);
  assert(objects.includes('name: "x\\ny"'), objects);
  assert(objects.includes("boom\\nsecond line"), objects);
});

Deno.test("a JSON log line escapes a peer's text too, and keeps it intact", () => {
  const format = logFormatter("json");
  const line = format(record("it2", forged));
  assertEquals(line.indexOf("\n"), line.length - 1, line);
  for (let i = 0; i < line.length - 1; i++) {
    const c = line.charCodeAt(i);
    assert(!unsafe(c), `raw character ${c.toString(16)} in ${line}`);
  }
  const parsed = JSON.parse(line) as { properties: { reason: string }; message: string };
  assertEquals(parsed.properties.reason, forged);
  assertEquals(parsed.message, `Link with "it2" ended: ${JSON.stringify(forged)}`);
});

Deno.test("a repeated problem is logged at its 1st, 10th, 100th… time only", () => {
  const logged = Array.from({ length: 100_001 }, (_, n) => n).filter(worthLogging);
  assertEquals(logged, [1, 10, 100, 1_000, 10_000, 100_000]);
});
