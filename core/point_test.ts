import { deepStrictEqual as assertEquals } from "node:assert";
import { sameValue, valueProblem } from "./point.ts";

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
