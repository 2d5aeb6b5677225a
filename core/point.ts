/**
 * The point: one named value with its OPC UA data type, status, source
 * timestamp, the hops it travelled and, when it failed, where and since when.
 */
import type { StatusCode } from "./status.ts";

/** OPC UA built-in scalar types that hopgate carries. */
export const scalarTypes = [
  "Boolean",
  "SByte",
  "Byte",
  "Int16",
  "UInt16",
  "Int32",
  "UInt32",
  "Int64",
  "UInt64",
  "Float",
  "Double",
  "String",
  "DateTime",
  "ByteString",
] as const;

/** One OPC UA built-in scalar type. */
export type ScalarType = typeof scalarTypes[number];

/** A scalar type or a one-dimensional array of it (`Double[]`). */
export type DataType = ScalarType | `${ScalarType}[]`;

/**
 * A scalar value. Int64 and UInt64 are `bigint` so they survive the chain
 * exactly; DateTime is a `Date`; ByteString is a `Uint8Array`.
 */
export type Scalar = boolean | number | bigint | string | Date | Uint8Array;

/** A point's value; `null` when there is no usable value. */
export type Value = Scalar | Scalar[] | null;

/** Where a failure is: the hop that noticed it, the link or source lost there, and since when. */
export interface FailureCause {
  /** Hop that detected the failure. */
  hop: string;
  /** Link peer or source name on that hop (`link:dmz`, `opcua:plc1`). */
  via: string;
  /** Epoch milliseconds when the failure was detected. */
  since: number;
  /** Human-readable reason (`connection reset`, `heartbeat timeout`). */
  reason: string;
}

/** The state of one point as it travels between hops and into sinks. */
export interface Point {
  /** Path whose first segment is the origin hop: `plant1/plc1/Line2/Temperature`. */
  id: string;
  /** Its value, of `type`; `null` while there is none. */
  value: Value;
  /** Its OPC UA data type. */
  type: DataType;
  /** Its OPC UA StatusCode: why the value can or cannot be trusted. */
  status: StatusCode;
  /** Source timestamp, epoch milliseconds. */
  time: number;
  /** Hops the point passed through, origin first. */
  hops: string[];
  /** Set while the status is a communication failure; `null` otherwise. */
  cause: FailureCause | null;
}

/**
 * A plain copy of a point's state (stored points are live objects whose
 * value is an accessor, so spreading one would drop it), with `hops` given.
 */
export function copyPoint(p: Point, hops: string[] = p.hops): Point {
  return {
    id: p.id,
    value: p.value,
    type: p.type,
    status: p.status,
    time: p.time,
    hops,
    cause: p.cause,
  };
}

/** The scalar type of a data type (`Double[]` → `Double`). */
export function elementType(type: DataType): ScalarType {
  return (type.endsWith("[]") ? type.slice(0, -2) : type) as ScalarType;
}

/** True for array data types. */
export function isArrayType(type: DataType): boolean {
  return type.endsWith("[]");
}

/** True when `name` is a data type hopgate carries. */
export function isDataType(name: string): name is DataType {
  const base = name.endsWith("[]") ? name.slice(0, -2) : name;
  return (scalarTypes as readonly string[]).includes(base);
}

const intRanges: Partial<Record<ScalarType, [number, number]>> = {
  SByte: [-128, 127],
  Byte: [0, 255],
  Int16: [-32768, 32767],
  UInt16: [0, 65535],
  Int32: [-2147483648, 2147483647],
  UInt32: [0, 4294967295],
};

const bigRanges: Partial<Record<ScalarType, [bigint, bigint]>> = {
  Int64: [-(2n ** 63n), 2n ** 63n - 1n],
  UInt64: [0n, 2n ** 64n - 1n],
};

/** The largest finite single-precision float. */
const maxFloat = 3.4028234663852886e38;

/** True for a time JavaScript can represent as a date (finite, within ±8.64e15 ms). */
export function validTime(t: number): boolean {
  return t >= -8.64e15 && t <= 8.64e15;
}

/** Marks a received value that does not fit its point's type (see {@link fitValue}). */
export const unfit: unique symbol = Symbol("unfit");

/**
 * A value received from a peer as the exact value its point's type needs, or
 * {@link unfit}: integers within their type's range, bigints for 64-bit
 * types (a whole number is converted), valid dates, bytes copied out of the
 * frame they were read from. Called for every received state, so the common
 * scalar cases come first and allocate nothing.
 */
export function fitValue(type: DataType, raw: Value): Value | typeof unfit {
  if (raw === null) return null;
  if (
    typeof raw === "number" &&
    (type === "Double" || (type === "Float" && !(Math.abs(raw) > maxFloat && Number.isFinite(raw))))
  ) {
    return raw;
  }
  if (isArrayType(type)) {
    if (!Array.isArray(raw)) return unfit;
    const base = elementType(type);
    const out: Scalar[] = new Array(raw.length);
    for (let i = 0; i < raw.length; i++) {
      const x = fitScalar(base, raw[i]!);
      if (x === unfit) return unfit;
      out[i] = x;
    }
    return out;
  }
  if (Array.isArray(raw)) return unfit;
  return fitScalar(type as ScalarType, raw);
}

function fitScalar(type: ScalarType, raw: Scalar): Scalar | typeof unfit {
  switch (type) {
    case "Int64":
    case "UInt64": {
      const big = typeof raw === "bigint"
        ? raw
        : typeof raw === "number" && Number.isSafeInteger(raw)
        ? BigInt(raw)
        : null;
      if (big === null) return unfit;
      const [lo, hi] = bigRanges[type]!;
      return big >= lo && big <= hi ? big : unfit;
    }
    case "ByteString":
      return raw instanceof Uint8Array ? raw.slice() : unfit;
    case "Boolean":
      return typeof raw === "boolean" ? raw : unfit;
    case "String":
      return typeof raw === "string" ? raw : unfit;
    case "DateTime":
      return raw instanceof Date && validTime(raw.getTime()) ? raw : unfit;
    default:
      return scalarProblem(type, raw) === null ? raw : unfit;
  }
}

/** Checks that a scalar fits a scalar type; returns the problem or `null`. */
function scalarProblem(type: ScalarType, v: Scalar): string | null {
  const ints = intRanges[type];
  if (ints) {
    if (typeof v !== "number" || !Number.isInteger(v)) return `${type} needs an integer`;
    return v < ints[0] || v > ints[1] ? `${v} is outside ${type}` : null;
  }
  const bigs = bigRanges[type];
  if (bigs) {
    if (typeof v !== "bigint") return `${type} needs a bigint`;
    return v < bigs[0] || v > bigs[1] ? `${v} is outside ${type}` : null;
  }
  switch (type) {
    case "Boolean":
      return typeof v === "boolean" ? null : "Boolean needs true or false";
    case "Float":
      if (typeof v !== "number") return "Float needs a number";
      return Math.abs(v) > maxFloat && v !== Infinity && v !== -Infinity
        ? `${v} is outside Float`
        : null;
    case "Double":
      return typeof v === "number" ? null : `${type} needs a number`;
    case "String":
      return typeof v === "string" ? null : "String needs a string";
    case "DateTime":
      if (!(v instanceof Date)) return "DateTime needs a Date";
      return validTime(v.getTime()) ? null : "DateTime needs a valid date";
    case "ByteString":
      return v instanceof Uint8Array ? null : "ByteString needs bytes";
  }
  return `unknown type ${type}`;
}

/** Why `value` does not fit `type`, or `null` when it fits (null values always fit). */
export function valueProblem(type: DataType, value: Value): string | null {
  if (value === null) return null;
  const base = elementType(type);
  if (isArrayType(type)) {
    if (!Array.isArray(value)) return `${type} needs an array`;
    for (const v of value) {
      const p = scalarProblem(base, v);
      if (p) return p;
    }
    return null;
  }
  if (Array.isArray(value)) return `${type} is not an array type`;
  return scalarProblem(base, value);
}

/** The origin hop of a point id (its first path segment). */
export function originHop(id: string): string {
  const slash = id.indexOf("/");
  return slash < 0 ? id : id.slice(0, slash);
}

/** Whether `hop` is the origin hop of `id` ({@link originHop}), without making a string. */
export function isOriginHop(id: string, hop: string): boolean {
  const slash = id.indexOf("/");
  return slash < 0 ? id === hop : slash === hop.length && id.startsWith(hop);
}

/** Two values are equal for change detection (deep for arrays and bytes). */
export function sameValue(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i] ?? null, b[i] ?? null)) return false;
    return true;
  }
  return typeof a === "number" && typeof b === "number" && Number.isNaN(a) && Number.isNaN(b);
}
