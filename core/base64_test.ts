import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert";
import { fromBase64, toBase64 } from "./base64.ts";

Deno.test("base64 round-trips any bytes, a view into a larger buffer and large arrays included", () => {
  const whole = Uint8Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff);
  for (const bytes of [new Uint8Array(0), whole, whole.subarray(7, 250)]) {
    assertEquals(fromBase64(toBase64(bytes)), Uint8Array.from(bytes));
  }
  assertEquals(toBase64(new Uint8Array([0, 255])), "AP8=");
  assertEquals(toBase64(new Uint8Array(200_000)).length, 266_668);
});

Deno.test("base64 that atob refuses is refused, and what atob accepts is read the same", () => {
  for (const text of ["a", "ab=", "abc==", "abcd==", "YW*j", "_-ab"]) {
    assertThrows(() => fromBase64(text), /Failed to decode base64/, text);
  }
  for (const text of ["", "ab", "ab==", "abc", "abc=", "YWJj\nZA==", " AQ "]) {
    assertEquals(fromBase64(text), Uint8Array.from(atob(text), (c) => c.charCodeAt(0)), text);
  }
});
