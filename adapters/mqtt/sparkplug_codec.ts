/**
 * Sparkplug B payloads from and to hopgate values: OPC UA types map to
 * Sparkplug data types, 64-bit integers stay exact (bigint through
 * protobufjs's fromObject/toObject, never a JS number), negative small
 * integers travel as 32-bit two's complement and arrays as the little-endian
 * packed bytes Sparkplug 3.0 prescribes.
 */
import {
  type DataType,
  elementType,
  isArrayType,
  type Scalar,
  type Value,
} from "../../core/mod.ts";
import { PayloadType, SpType } from "./sparkplug_proto.ts";

const scalarMap: Record<string, number> = {
  Boolean: SpType.Boolean,
  SByte: SpType.Int8,
  Byte: SpType.UInt8,
  Int16: SpType.Int16,
  UInt16: SpType.UInt16,
  Int32: SpType.Int32,
  UInt32: SpType.UInt32,
  Int64: SpType.Int64,
  UInt64: SpType.UInt64,
  Float: SpType.Float,
  Double: SpType.Double,
  String: SpType.String,
  DateTime: SpType.DateTime,
  ByteString: SpType.Bytes,
};

const arrayMap: Record<string, number> = {
  Boolean: SpType.BooleanArray,
  SByte: SpType.Int8Array,
  Byte: SpType.UInt8Array,
  Int16: SpType.Int16Array,
  UInt16: SpType.UInt16Array,
  Int32: SpType.Int32Array,
  UInt32: SpType.UInt32Array,
  Int64: SpType.Int64Array,
  UInt64: SpType.UInt64Array,
  Float: SpType.FloatArray,
  Double: SpType.DoubleArray,
  String: SpType.StringArray,
  DateTime: SpType.DateTimeArray,
  // Sparkplug has no array of byte strings: they travel as base64 text.
  ByteString: SpType.StringArray,
};

const reverse = new Map<number, DataType>();
for (const [t, n] of Object.entries(scalarMap)) reverse.set(n, t as DataType);
for (const [t, n] of Object.entries(arrayMap)) {
  if (t !== "ByteString") reverse.set(n, `${t}[]` as DataType);
}
reverse.set(SpType.Text, "String");
reverse.set(SpType.UUID, "String");

/** The Sparkplug data type number of a hopgate data type. */
export function sparkplugType(type: DataType): number {
  const base = elementType(type);
  return (isArrayType(type) ? arrayMap[base] : scalarMap[base]) ?? SpType.Unknown;
}

/** The hopgate data type of a Sparkplug data type number, when hopgate carries it. */
export function hopgateType(datatype: number): DataType | undefined {
  return reverse.get(datatype);
}

/** A metric property hopgate publishes (Quality, StatusCode, Cause). */
export interface OutProperty {
  key: string;
  type: "Int32" | "UInt32" | "String";
  value: number | string;
}

/** A metric to encode. */
export interface OutMetric {
  name?: string;
  alias?: bigint;
  /** Epoch ms. */
  timestamp?: number;
  type: DataType;
  value: Value;
  historical?: boolean;
  properties?: OutProperty[];
}

/** A payload to encode. */
export interface OutPayload {
  /** Epoch ms. */
  timestamp: number;
  /** Absent on NDEATH and on commands. */
  seq?: number;
  metrics: OutMetric[];
}

/** A decoded metric: the raw oneof value is interpreted by {@link metricValue}. */
export interface InMetric {
  name?: string;
  alias?: bigint;
  timestamp?: number;
  datatype?: number;
  historical: boolean;
  isNull: boolean;
  /** Property values by key (numbers, bigints, strings, booleans). */
  properties: Record<string, unknown>;
  /** The oneof field that carries the value (`int_value`…), if any. */
  field?: string;
  raw?: unknown;
}

/** A decoded payload. */
export interface InPayload {
  timestamp?: number;
  seq?: number;
  metrics: InMetric[];
}

/** Little-endian packing of number arrays. */
function pack(n: number, bytes: number, write: (v: DataView, i: number) => void): Uint8Array {
  const out = new Uint8Array(n * bytes);
  const view = new DataView(out.buffer);
  for (let i = 0; i < n; i++) write(view, i * bytes);
  return out;
}

function encodeArray(type: DataType, values: Scalar[]): Uint8Array {
  const base = elementType(type);
  const n = values.length;
  const num = (i: number) => values[i] as number;
  const big = (i: number) => values[i] as bigint;
  switch (base) {
    case "SByte":
      return pack(n, 1, (v, o) => v.setInt8(o, num(o)));
    case "Byte":
      return pack(n, 1, (v, o) => v.setUint8(o, num(o)));
    case "Int16":
      return pack(n, 2, (v, o) => v.setInt16(o, num(o / 2), true));
    case "UInt16":
      return pack(n, 2, (v, o) => v.setUint16(o, num(o / 2), true));
    case "Int32":
      return pack(n, 4, (v, o) => v.setInt32(o, num(o / 4), true));
    case "UInt32":
      return pack(n, 4, (v, o) => v.setUint32(o, num(o / 4), true));
    case "Int64":
      return pack(n, 8, (v, o) => v.setBigInt64(o, big(o / 8), true));
    case "UInt64":
      return pack(n, 8, (v, o) => v.setBigUint64(o, big(o / 8), true));
    case "Float":
      return pack(n, 4, (v, o) => v.setFloat32(o, num(o / 4), true));
    case "Double":
      return pack(n, 8, (v, o) => v.setFloat64(o, num(o / 8), true));
    case "DateTime":
      return pack(
        n,
        8,
        (v, o) => v.setBigInt64(o, BigInt((values[o / 8] as Date).getTime()), true),
      );
    case "Boolean": {
      // A 4-byte little-endian count, then the bits, most significant first.
      const out = new Uint8Array(4 + Math.ceil(n / 8));
      new DataView(out.buffer).setUint32(0, n, true);
      for (let i = 0; i < n; i++) if (values[i]) out[4 + (i >> 3)]! |= 0x80 >> (i & 7);
      return out;
    }
    default: {
      // Strings (and base64 byte strings), each terminated by a zero byte.
      const enc = new TextEncoder();
      const parts = values.map((s) =>
        enc.encode(s instanceof Uint8Array ? btoa(String.fromCharCode(...s)) : String(s))
      );
      const out = new Uint8Array(parts.reduce((a, p) => a + p.length + 1, 0));
      let o = 0;
      for (const p of parts) {
        out.set(p, o);
        o += p.length + 1;
      }
      return out;
    }
  }
}

function unpack<T>(bytes: Uint8Array, size: number, read: (v: DataView, o: number) => T): T[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: T[] = [];
  for (let o = 0; o + size <= bytes.length; o += size) out.push(read(view, o));
  return out;
}

function decodeArray(type: DataType, bytes: Uint8Array): Scalar[] {
  switch (elementType(type)) {
    case "SByte":
      return unpack(bytes, 1, (v, o) => v.getInt8(o));
    case "Byte":
      return unpack(bytes, 1, (v, o) => v.getUint8(o));
    case "Int16":
      return unpack(bytes, 2, (v, o) => v.getInt16(o, true));
    case "UInt16":
      return unpack(bytes, 2, (v, o) => v.getUint16(o, true));
    case "Int32":
      return unpack(bytes, 4, (v, o) => v.getInt32(o, true));
    case "UInt32":
      return unpack(bytes, 4, (v, o) => v.getUint32(o, true));
    case "Int64":
      return unpack(bytes, 8, (v, o) => v.getBigInt64(o, true));
    case "UInt64":
      return unpack(bytes, 8, (v, o) => v.getBigUint64(o, true));
    case "Float":
      return unpack(bytes, 4, (v, o) => v.getFloat32(o, true));
    case "Double":
      return unpack(bytes, 8, (v, o) => v.getFloat64(o, true));
    case "DateTime":
      return unpack(bytes, 8, (v, o) => new Date(Number(v.getBigInt64(o, true))));
    case "Boolean": {
      if (bytes.length < 4) return [];
      const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
      const out: boolean[] = [];
      for (let i = 0; i < n && 4 + (i >> 3) < bytes.length; i++) {
        out.push((bytes[4 + (i >> 3)]! & (0x80 >> (i & 7))) !== 0);
      }
      return out;
    }
    default: {
      const dec = new TextDecoder();
      const out: Scalar[] = [];
      let start = 0;
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] === 0) {
          out.push(dec.decode(bytes.subarray(start, i)));
          start = i + 1;
        }
      }
      if (elementType(type) === "ByteString") {
        return out.map((s) => Uint8Array.from(atob(String(s)), (c) => c.charCodeAt(0)));
      }
      return out;
    }
  }
}

/** The protobuf oneof field and value that carry `value` of `type`. */
function valueField(type: DataType, value: Value): [string, unknown] | null {
  if (value === null) return null;
  if (Array.isArray(value)) return ["bytes_value", encodeArray(type, value)];
  switch (elementType(type)) {
    case "Boolean":
      return ["boolean_value", value];
    case "SByte":
    case "Int16":
    case "Int32":
      // Negative values as 32-bit two's complement, as Tahu's Java client does.
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
}

const propertyTypes = { Int32: SpType.Int32, UInt32: SpType.UInt32, String: SpType.String };

function metricObject(m: OutMetric): Record<string, unknown> {
  const o: Record<string, unknown> = { datatype: sparkplugType(m.type) };
  if (m.name !== undefined) o.name = m.name;
  if (m.alias !== undefined) o.alias = m.alias;
  if (m.timestamp !== undefined) o.timestamp = BigInt(m.timestamp);
  if (m.historical) o.is_historical = true;
  const field = valueField(m.type, m.value);
  if (field) o[field[0]] = field[1];
  else o.is_null = true;
  if (m.properties?.length) {
    o.properties = {
      keys: m.properties.map((p) => p.key),
      values: m.properties.map((p) => ({
        type: propertyTypes[p.type],
        ...(p.type === "String"
          ? { string_value: p.value }
          : { int_value: (p.value as number) >>> 0 }),
      })),
    };
  }
  return o;
}

/** Encodes a Sparkplug B payload. */
export function encodePayload(p: OutPayload): Uint8Array {
  const o: Record<string, unknown> = {
    timestamp: BigInt(p.timestamp),
    metrics: p.metrics.map(metricObject),
  };
  if (p.seq !== undefined) o.seq = BigInt(p.seq);
  // fromObject is required: protobufjs silently writes a raw bigint as 0.
  return PayloadType.encode(PayloadType.fromObject(o)).finish();
}

interface RawMetric {
  name?: string;
  alias?: bigint;
  timestamp?: bigint;
  datatype?: number;
  is_historical?: boolean;
  is_null?: boolean;
  value?: string;
  properties?: { keys?: string[]; values?: Record<string, unknown>[] };
  [field: string]: unknown;
}

/** Decodes a Sparkplug B payload; throws on bytes that are not one. */
export function decodePayload(bytes: Uint8Array): InPayload {
  const o = PayloadType.toObject(PayloadType.decode(bytes), {
    longs: BigInt,
    oneofs: true,
    bytes: Uint8Array,
  }) as { timestamp?: bigint; seq?: bigint; metrics?: RawMetric[] };
  const out: InPayload = { metrics: [] };
  if (o.timestamp !== undefined) out.timestamp = Number(o.timestamp);
  if (o.seq !== undefined) out.seq = Number(o.seq);
  for (const m of o.metrics ?? []) {
    const properties: Record<string, unknown> = {};
    const keys = m.properties?.keys ?? [];
    const values = m.properties?.values ?? [];
    for (let i = 0; i < keys.length; i++) {
      const pv = values[i];
      const f = pv?.value as string | undefined;
      properties[keys[i]!] = f ? pv![f] : null;
    }
    const metric: InMetric = {
      historical: m.is_historical ?? false,
      isNull: m.is_null ?? false,
      properties,
    };
    if (m.name !== undefined) metric.name = m.name;
    if (m.alias !== undefined) metric.alias = m.alias;
    if (m.timestamp !== undefined) metric.timestamp = Number(m.timestamp);
    if (m.datatype !== undefined) metric.datatype = m.datatype;
    if (m.value !== undefined) {
      metric.field = m.value;
      const raw = m[m.value];
      // protobufjs hands out Node Buffers; callers get plain bytes.
      metric.raw = raw instanceof Uint8Array ? new Uint8Array(raw) : raw;
    }
    out.metrics.push(metric);
  }
  return out;
}

/**
 * The hopgate value of a decoded metric, read as `type` (by default the type
 * its own datatype names). Throws when the metric's value cannot be that type.
 */
export function metricValue(m: InMetric, type?: DataType): Value {
  const t = type ?? (m.datatype !== undefined ? hopgateType(m.datatype) : undefined);
  if (t === undefined) throw new Error(`unsupported Sparkplug datatype ${m.datatype}`);
  if (m.isNull || m.raw === undefined || m.raw === null) return null;
  const raw = m.raw;
  if (isArrayType(t)) {
    if (!(raw instanceof Uint8Array)) throw new Error(`${t} needs bytes_value`);
    return decodeArray(t, raw);
  }
  const want = (field: string) => {
    if (m.field !== field) throw new Error(`${t} needs ${field}, got ${m.field}`);
  };
  // Hosts differ in which field carries small integers; accept either.
  const int = (): number => {
    if (m.field === "long_value") return Number(BigInt.asIntN(64, raw as bigint));
    want("int_value");
    return raw as number;
  };
  switch (elementType(t)) {
    case "Boolean":
      want("boolean_value");
      return raw as boolean;
    case "SByte":
      return (int() << 24) >> 24;
    case "Int16":
      return (int() << 16) >> 16;
    case "Int32":
      return int() | 0;
    case "Byte":
    case "UInt16":
    case "UInt32":
      return int() >>> 0;
    case "Int64":
      want("long_value");
      return BigInt.asIntN(64, raw as bigint);
    case "UInt64":
      want("long_value");
      return BigInt.asUintN(64, raw as bigint);
    case "Float":
    case "Double":
      if (m.field !== "float_value" && m.field !== "double_value") want("double_value");
      return raw as number;
    case "DateTime":
      want("long_value");
      return new Date(Number(raw as bigint));
    case "ByteString":
      want("bytes_value");
      return raw as Uint8Array;
    default:
      want("string_value");
      return raw as string;
  }
}
