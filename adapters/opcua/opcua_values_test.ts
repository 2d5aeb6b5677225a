import { deepStrictEqual as assertEquals } from "node:assert";
import { BinaryStream } from "node-opcua-binary-stream";
import { Variant } from "node-opcua-client";
import type { DataType, Value } from "../../core/mod.ts";
import { fromHighLow, fromVariant, toHighLow, toVariant } from "./opcua_values.ts";

/** Encodes a value as an OPC UA Variant on the wire and decodes it back, as a PLC round trip does. */
function wireRoundTrip(type: DataType, value: Value) {
  const v = new Variant(toVariant(type, value));
  const stream = new BinaryStream(v.binaryStoreSize());
  v.encode(stream);
  const back = new Variant();
  back.decode(new BinaryStream(stream.buffer));
  return fromVariant(back);
}

Deno.test("64-bit integers convert to and from [high, low] pairs exactly", () => {
  for (const v of [0n, 1n, -1n, 2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n]) {
    assertEquals(fromHighLow(toHighLow(v), true), v);
  }
  assertEquals(fromHighLow(toHighLow(2n ** 64n - 1n), false), 2n ** 64n - 1n);
  assertEquals(toHighLow(-1n), [0xffffffff, 0xffffffff]);
});

Deno.test("every carried type survives an OPC UA wire round trip exactly", () => {
  const cases: [DataType, Value][] = [
    ["Boolean", true],
    ["SByte", -128],
    ["Byte", 255],
    ["Int16", -32768],
    ["UInt16", 65535],
    ["Int32", -2147483648],
    ["UInt32", 4294967295],
    ["Int64", -(2n ** 62n) - 7n],
    ["Int64", (1n << 60n) + 12345n],
    ["UInt64", 2n ** 64n - 16n],
    ["Float", 1.5],
    ["Double", 0.1 + 0.2],
    ["String", "Grüße ✓"],
    ["DateTime", new Date("2024-01-02T03:04:05.678Z")],
    ["ByteString", new Uint8Array([0, 1, 2, 255])],
    ["Double[]", [1.25, -2, 3e300]],
    ["Int32[]", [1, -2, 3]],
    ["Byte[]", [0, 7, 255]],
    ["Int64[]", [2n ** 60n + 1n, -5n]],
    ["UInt64[]", [2n ** 64n - 1n]],
    ["Boolean[]", [true, false]],
    ["String[]", ["a", ""]],
    ["DateTime[]", [new Date(0), new Date(1e12)]],
    ["ByteString[]", [new Uint8Array([9]), new Uint8Array([])]],
  ];
  for (const [type, value] of cases) {
    assertEquals(wireRoundTrip(type, value), { type, value }, `${type} ${String(value)}`);
  }
});

Deno.test("values come back as plain JS types, not typed arrays or Buffers", () => {
  const dbl = wireRoundTrip("Double[]", [1, 2]);
  assertEquals(Array.isArray(dbl?.value), true);
  const bytes = wireRoundTrip("ByteString", new Uint8Array([1]));
  assertEquals(Object.getPrototypeOf(bytes?.value), Uint8Array.prototype);
});

Deno.test("types hopgate does not carry are refused, null strings read as empty", () => {
  assertEquals(fromVariant({ dataType: 14, value: "guid" }), null);
  assertEquals(fromVariant({ dataType: 12, value: null }), { type: "String", value: "" });
  assertEquals(fromVariant({ dataType: 11, value: null }), { type: "Double", value: null });
});
