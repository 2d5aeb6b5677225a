import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { inRanges, parseCidr } from "./cidr.ts";

Deno.test("cidr: a listener's --allow-from matches IPv4 and IPv6 ranges, mapped addresses and single hosts", () => {
  const ranges = ["10.10.0.0/24", "192.168.1.7", "fd00::/8", "127.0.0.0/8"].map((t) =>
    parseCidr(t)!
  );
  assertEquals(inRanges("10.10.0.200", ranges), true);
  assertEquals(inRanges("10.10.1.1", ranges), false);
  assertEquals(inRanges("192.168.1.7", ranges), true);
  assertEquals(inRanges("192.168.1.8", ranges), false);
  assertEquals(inRanges("::ffff:127.0.0.1", ranges), true);
  assertEquals(inRanges("fd12:3456::1", ranges), true);
  assertEquals(inRanges("fe80::1", ranges), false);
  assertEquals(inRanges("not an address", ranges), false);
  assertEquals(inRanges("10.0.0.1", [parseCidr("10.0.0.0/7")!]), true);
  assertEquals(inRanges("12.0.0.1", [parseCidr("10.0.0.0/7")!]), false);
});

Deno.test("cidr: malformed ranges are refused", () => {
  for (
    const t of ["10.0.0.0/33", "10.0.0", "300.1.1.1", "::1::2", "fd00::/129", "10.0.0.0/x", ""]
  ) {
    assertEquals(parseCidr(t), null, t);
  }
});
