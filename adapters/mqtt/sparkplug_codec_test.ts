import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert";
import type { DataType, Scalar, Value } from "../../core/mod.ts";
import {
  decodePayload,
  encodeArray,
  encodePayload,
  metricValue,
  type OutMetric,
  type OutPayload,
  sparkplugType,
} from "./sparkplug_codec.ts";
import { PayloadType, SpType } from "./sparkplug_proto.ts";

const cases: [DataType, Value, number][] = [
  ["Boolean", true, SpType.Boolean],
  ["SByte", -128, SpType.Int8],
  ["Byte", 255, SpType.UInt8],
  ["Int16", -32768, SpType.Int16],
  ["UInt16", 65535, SpType.UInt16],
  ["Int32", -2147483648, SpType.Int32],
  ["UInt32", 4294967295, SpType.UInt32],
  ["Int64", -(2n ** 63n), SpType.Int64],
  ["Int64", 2n ** 63n - 1n, SpType.Int64],
  ["UInt64", 2n ** 64n - 1n, SpType.UInt64],
  ["Float", 1.5, SpType.Float],
  ["Double", 0.1 + 0.2, SpType.Double],
  ["String", "Grüße", SpType.String],
  ["DateTime", new Date(1_700_000_000_123), SpType.DateTime],
  ["ByteString", new Uint8Array([0, 1, 255]), SpType.Bytes],
  ["SByte[]", [-23, 123], SpType.Int8Array],
  ["Byte[]", [0, 255], SpType.UInt8Array],
  ["Int16[]", [-2, 3], SpType.Int16Array],
  ["UInt16[]", [65535, 1], SpType.UInt16Array],
  ["Int32[]", [123456789, -987654321], SpType.Int32Array],
  ["UInt32[]", [4294967295], SpType.UInt32Array],
  ["Int64[]", [-(2n ** 63n), 52n], SpType.Int64Array],
  ["UInt64[]", [2n ** 64n - 1n, 0n], SpType.UInt64Array],
  ["Float[]", [1.5, -2.25], SpType.FloatArray],
  ["Double[]", [12.354213, 1022.9123213], SpType.DoubleArray],
  ["Boolean[]", [false, false, true, true, false, true, false, false, true, true, false, true], 32],
  ["String[]", ["ABC", "hello"], SpType.StringArray],
  ["DateTime[]", [new Date(1), new Date(1_700_000_000_000)], SpType.DateTimeArray],
  ["Double", null, SpType.Double],
];

Deno.test("every hopgate type survives a Sparkplug round trip exactly, 64-bit values included", () => {
  const bytes = encodePayload({
    timestamp: 1_700_000_000_000,
    seq: 255,
    metrics: cases.map(([type, value], i) => ({
      name: `m${i}`,
      alias: BigInt(i + 1),
      type,
      value,
    })),
  });
  const back = decodePayload(bytes);
  assertEquals(back.seq, 255);
  assertEquals(back.timestamp, 1_700_000_000_000);
  cases.forEach(([type, value, sp], i) => {
    const m = back.metrics[i]!;
    assertEquals(m.name, `m${i}`);
    assertEquals(m.alias, BigInt(i + 1));
    assertEquals(m.datatype, sp, type);
    assertEquals(sparkplugType(type), sp);
    assertEquals(metricValue(m), value, type);
  });
});

Deno.test("arrays use the packed encodings of the Sparkplug 3.0 specification", () => {
  const one = (type: DataType, value: Value) =>
    decodePayload(encodePayload({ timestamp: 0, metrics: [{ type, value }] })).metrics[0]!.raw;
  assertEquals(one("SByte[]", [-23, 123]), new Uint8Array([0xe9, 0x7b]));
  assertEquals(
    one("Int32[]", [123456789, 987654321]),
    new Uint8Array([0x15, 0xcd, 0x5b, 0x07, 0xb1, 0x68, 0xde, 0x3a]),
  );
  assertEquals(
    one("Boolean[]", [
      false,
      false,
      true,
      true,
      false,
      true,
      false,
      false,
      true,
      true,
      false,
      true,
    ]),
    new Uint8Array([0x0c, 0, 0, 0, 0x34, 0xd0]),
  );
  assertEquals(
    one("String[]", ["ABC", "hello"]),
    new Uint8Array([0x41, 0x42, 0x43, 0, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0]),
  );
});

Deno.test("negative small integers travel as 32-bit two's complement and Int64 as uint64", () => {
  const m = decodePayload(encodePayload({
    timestamp: 0,
    metrics: [{ type: "SByte", value: -1 }, { type: "Int64", value: -1n }],
  })).metrics;
  assertEquals(m[0]!.raw, 0xffffffff);
  assertEquals(m[1]!.raw, 2n ** 64n - 1n);
});

Deno.test("properties, historical flag and metric timestamps are encoded", () => {
  const [m] = decodePayload(encodePayload({
    timestamp: 5,
    metrics: [{
      alias: 7n,
      timestamp: 1_700_000_000_999,
      type: "Double",
      value: 1,
      historical: true,
      properties: [
        { key: "Quality", type: "Int32", value: 64 },
        { key: "StatusCode", type: "UInt32", value: 0x408f0000 },
        { key: "Cause", type: "String", value: "link:dmz lost" },
      ],
    }],
  })).metrics;
  assert(m);
  assertEquals(m.historical, true);
  assertEquals(m.timestamp, 1_700_000_000_999);
  assertEquals(m.properties, { Quality: 64, StatusCode: 0x408f0000, Cause: "link:dmz lost" });
});

Deno.test("a command value is read as the point's type, whichever integer field carries it", () => {
  const [a, b] = decodePayload(encodePayload({
    timestamp: 0,
    metrics: [{ type: "Int64", value: 42n }, { type: "Int32", value: -5 }],
  })).metrics;
  assertEquals(metricValue(a!, "Int32"), 42);
  assertEquals(metricValue(b!, "Int32"), -5);
  throws(() => metricValue(b!, "String"), /String needs string_value/);
});

/**
 * The reference: the same payload built as an object and encoded by protobufjs
 * from the Tahu schema (what hopgate used before its own writer).
 */
function protobufjsEncode(p: OutPayload): Uint8Array {
  const field = (type: DataType, value: Scalar | Scalar[]): [string, unknown] => {
    if (Array.isArray(value)) return ["bytes_value", encodeArray(type, value)];
    switch (type) {
      case "Boolean":
        return ["boolean_value", value];
      case "SByte":
      case "Int16":
      case "Int32":
        return ["int_value", (value as number) >>> 0];
      case "Byte":
      case "UInt16":
      case "UInt32":
        return ["int_value", value];
      case "Int64":
        return ["long_value", BigInt.asUintN(64, value as bigint)];
      case "UInt64":
        return ["long_value", value];
      case "Float":
        return ["float_value", value];
      case "Double":
        return ["double_value", value];
      case "DateTime":
        return ["long_value", BigInt((value as Date).getTime())];
      case "ByteString":
        return ["bytes_value", value];
      default:
        return ["string_value", String(value)];
    }
  };
  const types = { Int32: SpType.Int32, UInt32: SpType.UInt32, String: SpType.String };
  const metric = (m: OutMetric) => {
    const o: Record<string, unknown> = { datatype: sparkplugType(m.type) };
    if (m.name !== undefined) o.name = m.name;
    if (m.alias !== undefined) o.alias = m.alias;
    if (m.timestamp !== undefined) o.timestamp = BigInt(m.timestamp);
    if (m.historical) o.is_historical = true;
    if (m.value === null) o.is_null = true;
    else {
      const [k, v] = field(m.type, m.value);
      o[k] = v;
    }
    if (m.properties?.length) {
      o.properties = {
        keys: m.properties.map((x) => x.key),
        values: m.properties.map((x) => ({
          type: types[x.type],
          ...(x.type === "String"
            ? { string_value: x.value }
            : { int_value: (x.value as number) >>> 0 }),
        })),
      };
    }
    return o;
  };
  const o: Record<string, unknown> = {
    timestamp: BigInt(p.timestamp),
    metrics: p.metrics.map(metric),
  };
  if (p.seq !== undefined) o.seq = BigInt(p.seq);
  return new Uint8Array(PayloadType.encode(PayloadType.fromObject(o)).finish());
}

Deno.test("the payload writer produces exactly protobufjs's bytes for every type, property and size", () => {
  const long = "Linie 2/Förderband/".repeat(12); // over 128 bytes, not ASCII
  const payloads: OutPayload[] = [
    { timestamp: 0, metrics: [] },
    { timestamp: 1_700_000_000_123, seq: 255, metrics: [] },
    {
      timestamp: 1_700_000_000_123,
      seq: 7,
      metrics: cases.map(([type, value], i) => ({
        name: `m${i}`,
        alias: BigInt(i + 1),
        timestamp: 1_700_000_000_000 + i,
        type,
        value,
      })),
    },
    {
      timestamp: 2 ** 52,
      seq: 0,
      metrics: [
        { alias: 2n ** 64n - 1n, timestamp: 5, type: "Double", value: -0, historical: true },
        { name: long, type: "String", value: long },
        {
          alias: 300n,
          timestamp: 9,
          type: "Int32",
          value: null,
          properties: [
            { key: "Quality", type: "Int32", value: 0 },
            { key: "StatusCode", type: "UInt32", value: 0x80310000 },
            { key: "Cause", type: "String", value: `plant1 lost link:dmz: ${long}` },
          ],
        },
        { name: "bytes", type: "ByteString", value: new Uint8Array(200).fill(7) },
        { name: "many", type: "Double[]", value: Array.from({ length: 40 }, (_, i) => i / 3) },
      ],
    },
  ];
  for (const p of payloads) {
    assertEquals(
      encodePayload(p),
      protobufjsEncode(p),
      JSON.stringify(p, (_, v) => typeof v === "bigint" ? String(v) : v),
    );
  }
});
