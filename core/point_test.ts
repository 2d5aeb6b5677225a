import { deepStrictEqual as assertEquals } from "node:assert";
import fc from "fast-check";
import { fitValue, isOriginHop, originHop, sameValue, unfit, valueProblem } from "./point.ts";
import { isStatusCode } from "./status.ts";

Deno.test("values are checked against their OPC UA data type", () => {
  assertEquals(valueProblem("Int32", 5), null);
  assertEquals(valueProblem("Int32", 2 ** 31), "2147483648 is outside Int32");
  assertEquals(valueProblem("Int64", 5), "Int64 needs a bigint");
  assertEquals(valueProblem("UInt64", 2n ** 64n - 1n), null);
  assertEquals(valueProblem("UInt64", -1n), "-1 is outside UInt64");
  assertEquals(valueProblem("Double[]", [1, 2.5]), null);
  assertEquals(valueProblem("Double[]", 1), "Double[] needs an array");
  assertEquals(valueProblem("Boolean", null), null);
  assertEquals(valueProblem("DateTime", new Date(0)), null);
});

Deno.test("value equality is deep for arrays, bytes and dates", () => {
  assertEquals(sameValue([1, 2], [1, 2]), true);
  assertEquals(sameValue(new Uint8Array([1]), new Uint8Array([2])), false);
  assertEquals(sameValue(new Date(5), new Date(5)), true);
  assertEquals(sameValue(2n ** 60n, 2n ** 60n), true);
  assertEquals(sameValue(NaN, NaN), true);
});

Deno.test("a received value fits its type exactly or is unfit: ranges, 64-bit integers, dates, arrays", () => {
  const unfitOnes: [Parameters<typeof fitValue>[0], Parameters<typeof fitValue>[1]][] = [
    ["Byte", -5.5],
    ["Byte", 256],
    ["Int32", 1e300],
    ["Int64", 2n ** 64n - 1n],
    ["UInt64", -1n],
    ["Int64", 2 ** 60],
    ["Float", 1e300],
    ["DateTime", new Date(NaN)],
    ["Double", "1"],
    ["Double[]", [1, "x"]],
    ["Double[]", 1],
    ["Double", [1]],
    ["Boolean", 1],
  ];
  for (const [type, value] of unfitOnes) {
    assertEquals(fitValue(type, value), unfit, `${type} ${value}`);
  }
  assertEquals(fitValue("Int64", 5), 5n, "a whole number becomes a bigint");
  assertEquals(fitValue("UInt64", 2n ** 64n - 1n), 2n ** 64n - 1n);
  assertEquals(fitValue("Double", NaN), NaN, "NaN is a Double");
  assertEquals(fitValue("Float", Infinity), Infinity);
  assertEquals(fitValue("Int16[]", [1, -2]), [1, -2]);
  assertEquals(fitValue("String", null), null);
  const bytes = new Uint8Array([1, 2, 3]);
  const copy = fitValue("ByteString", bytes.subarray(1)) as Uint8Array;
  assertEquals([...copy], [2, 3]);
  assertEquals(copy.buffer === bytes.buffer, false, "bytes are copied out of the frame");
  assertEquals(valueProblem("DateTime", new Date(NaN)), "DateTime needs a valid date");
});

Deno.test("status codes: the reserved severity and reserved bits are not OPC UA status codes", () => {
  for (const c of [0, 0x40000000, 0x80000000, 0x808c0000, 0x408f0000, 0x002d0000]) {
    assertEquals(isStatusCode(c), true, c.toString(16));
  }
  for (const c of [0xffffffff, 0xc0000000, 0x10000000, 0x20000000, -1, 1.5, 2 ** 32]) {
    assertEquals(isStatusCode(c), false, c.toString(16));
  }
});

Deno.test("isOriginHop answers as comparing with originHop does, for any id and hop", () => {
  assertEquals(
    [["plant1/a/b", "plant1"], ["plant1", "plant1"], ["plant1x/a", "plant1"], ["plant/a", "plant1"]]
      .map(([id, hop]) => isOriginHop(id!, hop!)),
    [true, true, false, false],
  );
  // Ids and hops over a few characters, so that prefixes, slashes and empty segments are common.
  const text = fc.string({ unit: fc.constantFrom("a", "b", "/"), maxLength: 6 });
  fc.assert(
    fc.property(text, text, (id, hop) => isOriginHop(id, hop) === (originHop(id) === hop)),
    { numRuns: 2000 },
  );
});
