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
  fromBase64,
  isArrayType,
  type Scalar,
  toBase64,
  type Value,
} from "../../core/mod.ts";
import { ProtoWriter, Wire } from "./proto_writer.ts";
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
  alias?: number | bigint;
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

/** The packed little-endian bytes of an array value, as Sparkplug 3.0 carries arrays. */
export function encodeArray(type: DataType, values: Scalar[]): Uint8Array {
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
        (v, o) => v.setBigUint64(o, BigInt(epochMs((values[o / 8] as Date).getTime())), true),
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
        enc.encode(s instanceof Uint8Array ? toBase64(s) : String(s))
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
        return out.map((s) => fromBase64(String(s)));
      }
      return out;
    }
  }
}

/**
 * An epoch-ms time as the uint64 Sparkplug carries (two's complement before
 * 1970). A time that is no valid date (NaN, ±Infinity) is sent as 0 rather
 * than stopping the publisher: a hop's sinks must not fail on one point.
 */
function epochMs(t: number): number | bigint {
  if (!(t >= -8.64e15 && t <= 8.64e15)) return 0;
  const ms = Math.trunc(t);
  return ms >= 0 ? ms : BigInt.asUintN(64, BigInt(ms));
}

/** Writes the oneof field that carries a non-null `value` of `type`. */
function writeValue(w: ProtoWriter, type: DataType, value: Scalar | Scalar[]): void {
  if (Array.isArray(value)) {
    w.tag(16, Wire.Bytes);
    return w.bytes(encodeArray(type, value));
  }
  switch (elementType(type)) {
    case "Boolean":
      w.tag(14, Wire.Varint);
      return w.bool(value as boolean);
    case "SByte":
    case "Int16":
    case "Int32":
      // Negative values as 32-bit two's complement, as Tahu's Java client does.
      w.tag(10, Wire.Varint);
      return w.varint((value as number) >>> 0);
    case "Byte":
    case "UInt16":
    case "UInt32":
      w.tag(10, Wire.Varint);
      return w.varint(value as number);
    case "Int64": {
      w.tag(11, Wire.Varint);
      const v = value as bigint;
      return w.uint64(v >= 0n ? v : BigInt.asUintN(64, v));
    }
    case "UInt64":
      w.tag(11, Wire.Varint);
      return w.uint64(value as bigint);
    case "Float":
      w.tag(12, Wire.Fixed32);
      return w.float(value as number);
    case "Double":
      w.tag(13, Wire.Fixed64);
      return w.double(value as number);
    case "DateTime":
      w.tag(11, Wire.Varint);
      return w.uint64(epochMs((value as Date).getTime()));
    case "ByteString":
      w.tag(16, Wire.Bytes);
      return w.bytes(value as Uint8Array);
    default:
      w.tag(15, Wire.Bytes);
      return w.string(String(value));
  }
}

const propertyTypes = { Int32: SpType.Int32, UInt32: SpType.UInt32, String: SpType.String };

/** Writes one metric as field 2 of a payload, its fields in field-number order. */
function writeMetric(w: ProtoWriter, m: OutMetric): void {
  w.tag(2, Wire.Bytes);
  const metric = w.begin();
  if (m.name !== undefined) {
    w.tag(1, Wire.Bytes);
    w.string(m.name);
  }
  if (m.alias !== undefined) {
    w.tag(2, Wire.Varint);
    w.uint64(m.alias);
  }
  if (m.timestamp !== undefined) {
    w.tag(3, Wire.Varint);
    w.uint64(epochMs(m.timestamp));
  }
  w.tag(4, Wire.Varint);
  w.varint(sparkplugType(m.type));
  if (m.historical) {
    w.tag(5, Wire.Varint);
    w.bool(true);
  }
  if (m.value === null) {
    w.tag(7, Wire.Varint);
    w.bool(true);
  }
  const props = m.properties;
  if (props !== undefined && props.length > 0) {
    w.tag(9, Wire.Bytes);
    const set = w.begin();
    for (const p of props) {
      w.tag(1, Wire.Bytes);
      w.string(p.key);
    }
    for (const p of props) {
      w.tag(2, Wire.Bytes);
      const value = w.begin();
      w.tag(1, Wire.Varint);
      w.varint(propertyTypes[p.type]);
      if (p.type === "String") {
        w.tag(8, Wire.Bytes);
        w.string(String(p.value));
      } else {
        w.tag(3, Wire.Varint);
        w.varint((p.value as number) >>> 0);
      }
      w.end(value);
    }
    w.end(set);
  }
  if (m.value !== null) writeValue(w, m.type, m.value);
  w.end(metric);
}

const writer = new ProtoWriter();

/**
 * Encodes a Sparkplug B payload: written directly in the Tahu protobuf wire
 * format (the same bytes protobufjs writes for it, several times faster).
 */
export function encodePayload(p: OutPayload): Uint8Array {
  const metrics = p.metrics;
  return encodeMetrics(p.timestamp, p.seq, metrics.length, (i) => metrics[i]!);
}

/**
 * Encodes a payload of `count` metrics that `metric` gives one at a time: the
 * hot path passes one object it refills for each, so a payload of thousands
 * of metrics allocates none.
 */
export function encodeMetrics(
  timestamp: number,
  seq: number | undefined,
  count: number,
  metric: (i: number) => OutMetric,
): Uint8Array {
  const w = writer;
  w.tag(1, Wire.Varint);
  w.uint64(epochMs(timestamp));
  for (let i = 0; i < count; i++) writeMetric(w, metric(i));
  if (seq !== undefined) {
    w.tag(3, Wire.Varint);
    w.uint64(seq);
  }
  return w.finish();
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
