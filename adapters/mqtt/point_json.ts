/**
 * The JSON form of a point: the payload of `--mqtt-format json` and the
 * record format of the store-and-forward buffer. JSON has no 64-bit integers,
 * dates or bytes, so Int64/UInt64 travel as decimal strings (exact), DateTime
 * as ISO 8601 text, ByteString as base64 and non-finite floats as strings.
 * Encoding never throws: a time or date that is no date (NaN, ±Infinity)
 * becomes `null`, so one broken point cannot stop a publish or a buffer
 * record.
 */
import {
  type DataType,
  elementType,
  type FailureCause,
  fromBase64,
  isArrayType,
  isDataType,
  isoTime,
  jsonValue,
  type JsonValueOptions,
  type Point,
  type Scalar,
  statusName,
  type Value,
} from "../../core/mod.ts";

/** One point as a JSON message. */
export interface PointJson {
  id: string;
  value: unknown;
  type: DataType;
  /** The OPC UA StatusCode, as a number. */
  code: number;
  /** Its name (`Good`, `UncertainNoCommunicationLastUsableValue`, …). */
  status: string;
  /** Source timestamp, ISO 8601; `null` when the point's time is no date (NaN, ±Infinity). */
  time: string | null;
  cause: FailureCause | null;
  /** Present and true on updates sent from the store-and-forward buffer. */
  historical?: boolean;
}

/** Non-finite floats as strings, so that they read back (see {@linkcode valueFromJson}). */
const mqttJson: JsonValueOptions = { nonFiniteAsText: true };

/** A value in its JSON form: core's {@linkcode jsonValue}, with NaN and ±Infinity as strings. */
export function valueToJson(value: Value): unknown {
  return jsonValue(value, mqttJson);
}

function scalarFromJson(type: DataType, v: unknown): Scalar {
  const base = elementType(type);
  switch (base) {
    case "Int64":
    case "UInt64":
      if (typeof v === "string" || (typeof v === "number" && Number.isInteger(v))) {
        return BigInt(v);
      }
      throw new Error(`${base} needs an integer or a decimal string`);
    case "DateTime": {
      // An invalid date in an array is written as null (see valueToJson).
      if (v === null) return new Date(NaN);
      const d = new Date(v as string | number);
      if (Number.isNaN(d.getTime())) throw new Error("DateTime needs ISO 8601 text or epoch ms");
      return d;
    }
    case "ByteString":
      if (typeof v !== "string") throw new Error("ByteString needs base64 text");
      return fromBase64(v);
    case "Float":
    case "Double":
      if (typeof v === "string" && ["NaN", "Infinity", "-Infinity"].includes(v)) return Number(v);
      if (typeof v === "number") return v;
      throw new Error(`${base} needs a number`);
    case "Boolean":
      if (typeof v === "boolean") return v;
      throw new Error("Boolean needs true or false");
    case "String":
      if (typeof v === "string") return v;
      throw new Error("String needs text");
    default:
      if (typeof v === "number") return v;
      // valueToJson writes any non-finite number so; the value is unfit, but it reads back.
      if (typeof v === "string" && ["NaN", "Infinity", "-Infinity"].includes(v)) return Number(v);
      throw new Error(`${base} needs a number`);
  }
}

/** Reads a JSON value as `type`; throws with the reason when it does not fit. */
export function valueFromJson(type: DataType, v: unknown): Value {
  if (v === null) return null;
  if (isArrayType(type)) {
    if (!Array.isArray(v)) throw new Error(`${type} needs an array`);
    return v.map((x) => scalarFromJson(type, x));
  }
  return scalarFromJson(type, v);
}

/** A point as its JSON message. */
export function pointToJson(p: Point, historical = false): PointJson {
  const out: PointJson = {
    id: p.id,
    value: valueToJson(p.value),
    type: p.type,
    code: p.status >>> 0,
    status: statusName(p.status),
    time: isoTime(p.time),
    cause: p.cause,
  };
  if (historical) out.historical = true;
  return out;
}

/** A point back from its JSON message (the hop path is not carried). */
export function pointFromJson(j: PointJson): Point {
  if (!isDataType(j.type)) throw new Error(`unknown data type ${j.type}`);
  return {
    id: j.id,
    value: valueFromJson(j.type, j.value),
    type: j.type,
    status: j.code,
    time: j.time === null ? NaN : Date.parse(j.time),
    hops: [],
    cause: j.cause,
  };
}
