/**
 * Exact conversion between OPC UA Variants (as node-opcua represents them)
 * and hopgate values. 64-bit integers travel as `[high, low]` uint32 pairs in
 * node-opcua and as `bigint` in hopgate, so no value is ever rounded through
 * a float. Loaded only together with node-opcua (see mod.ts).
 */
import { Buffer } from "node:buffer";
import {
  DataType as UaType,
  StatusCodes,
  VariantArrayType,
  type VariantOptions,
} from "node-opcua-client";
import {
  type DataType,
  elementType,
  isArrayType,
  type Point,
  type Scalar,
  type ScalarType,
  scalarTypes,
  validTime,
  type Value,
  valueProblem,
} from "../../core/mod.ts";

/** A hopgate value with the hopgate data type it was read as. */
export interface TypedValue {
  type: DataType;
  value: Value;
}

/** The pair node-opcua uses for Int64/UInt64: `[high, low]`, each a uint32. */
export type HighLow = [number, number];

/** `[high, low]` → bigint, signed for Int64 and unsigned for UInt64. */
export function fromHighLow(hl: HighLow, signed: boolean): bigint {
  const u = (BigInt(hl[0] >>> 0) << 32n) | BigInt(hl[1] >>> 0);
  return signed ? BigInt.asIntN(64, u) : u;
}

/** bigint → `[high, low]` (two's complement for negative Int64). */
export function toHighLow(v: bigint): HighLow {
  const u = BigInt.asUintN(64, v);
  return [Number(u >> 32n), Number(u & 0xffffffffn)];
}

/** The OPC UA built-in type id of a hopgate scalar type. */
export function uaDataType(type: ScalarType): UaType {
  return UaType[type];
}

/** The hopgate scalar type of an OPC UA built-in type id; `null` for types hopgate does not carry. */
export function scalarTypeOf(ua: UaType): ScalarType | null {
  const name = UaType[ua];
  return (scalarTypes as readonly string[]).includes(name) ? name as ScalarType : null;
}

/** Converts one element as node-opcua decoded it. */
function scalarFrom(type: ScalarType, v: unknown): Scalar {
  switch (type) {
    case "Int64":
      return fromHighLow(v as HighLow, true);
    case "UInt64":
      return fromHighLow(v as HighLow, false);
    case "DateTime":
      // node-opcua adds picosecond fields to its Dates; keep a plain copy.
      return new Date(v instanceof Date ? v.getTime() : 0);
    case "ByteString":
      return v instanceof Uint8Array ? new Uint8Array(v) : new Uint8Array(0);
    case "String":
      // An OPC UA null string is read as the empty string.
      return typeof v === "string" ? v : "";
    case "Boolean":
      return v === true;
    default:
      return Number(v);
  }
}

/**
 * Converts a variant's data type, array type and value (as node-opcua
 * decodes them) to a hopgate value; `null` for types hopgate does not carry
 * (matrices, structures, Guids…).
 */
export function fromVariant(
  variant: { dataType: UaType; arrayType?: VariantArrayType; value: unknown },
): TypedValue | null {
  const type = scalarTypeOf(variant.dataType);
  if (type === null) return null;
  const arrayType = variant.arrayType ?? VariantArrayType.Scalar;
  if (arrayType === VariantArrayType.Scalar) {
    if (variant.value === null || variant.value === undefined) {
      return { type, value: type === "String" ? "" : null };
    }
    return { type, value: scalarFrom(type, variant.value) };
  }
  if (arrayType !== VariantArrayType.Array) return null;
  const items = variant.value === null || variant.value === undefined
    ? []
    : Array.from(variant.value as ArrayLike<unknown>);
  return { type: `${type}[]`, value: items.map((v) => scalarFrom(type, v)) };
}

/** Typed arrays node-opcua expects for numeric arrays. */
const typedArrays: Partial<Record<ScalarType, (v: number[]) => ArrayLike<number>>> = {
  SByte: (v) => Int8Array.from(v),
  Byte: (v) => Uint8Array.from(v),
  Int16: (v) => Int16Array.from(v),
  UInt16: (v) => Uint16Array.from(v),
  Int32: (v) => Int32Array.from(v),
  UInt32: (v) => Uint32Array.from(v),
  Float: (v) => Float32Array.from(v),
  Double: (v) => Float64Array.from(v),
};

/** One element in node-opcua's representation. */
function scalarTo(type: ScalarType, v: Scalar): unknown {
  switch (type) {
    case "Int64":
    case "UInt64":
      return toHighLow(v as bigint);
    case "ByteString":
      // node-opcua encodes ByteStrings only from Node Buffers.
      return Buffer.from(v as Uint8Array);
    case "DateTime":
      return new Date((v as Date).getTime());
    default:
      return v;
  }
}

/**
 * The variant options for a hopgate value of a type, for writes to PLCs and
 * for the OPC UA server. `null` values become an empty variant of the type.
 * Int64 scalars need an explicit Scalar array type, or node-opcua takes the
 * `[high, low]` pair for an array.
 */
export function toVariant(type: DataType, value: Value): VariantOptions {
  const base = elementType(type);
  const dataType = uaDataType(base);
  if (isArrayType(type)) {
    const items = Array.isArray(value) ? value : [];
    const typed = typedArrays[base];
    return {
      dataType,
      arrayType: VariantArrayType.Array,
      value: typed ? typed(items as number[]) : items.map((v) => scalarTo(base, v)),
    };
  }
  if (value === null || Array.isArray(value)) {
    return { dataType, arrayType: VariantArrayType.Scalar, value: null };
  }
  return { dataType, arrayType: VariantArrayType.Scalar, value: scalarTo(base, value) };
}

/**
 * The variant the OPC UA server shows for a value: {@link toVariant}'s, or
 * an empty variant for `null` (node-opcua refuses a null Boolean or number
 * of a type). Check the value with {@link dataValueProblem} first.
 */
export function shownVariant(type: DataType, value: Value): VariantOptions {
  return value === null ? { dataType: UaType.Null } : toVariant(type, value);
}

/**
 * Why a point cannot be shown as an OPC UA value, with the Bad status to
 * show instead: node-opcua throws on some such values (a Byte of -5.5, even
 * later, while encoding) and silently changes others (an Int32 of 1e300
 * becomes 1, an invalid date 1970), so none of them may reach it.
 */
export interface Unfit {
  /** BadOutOfRange (a number or bigint beyond its type) or BadDataEncodingInvalid (anything else). */
  status: number;
  reason: string;
}

const badOutOfRange = StatusCodes.BadOutOfRange.value;
const badEncoding = StatusCodes.BadDataEncodingInvalid.value;

function outOfRange(type: ScalarType, v: unknown): Unfit {
  return { status: badOutOfRange, reason: `${String(v)} is outside ${type}` };
}

function notEncodable(reason: string): Unfit {
  return { status: badEncoding, reason };
}

/** The JavaScript kind of value each numeric OPC UA type is carried as. */
function numericKind(type: ScalarType): "number" | "bigint" | null {
  if (type === "Int64" || type === "UInt64") return "bigint";
  if (type === "Boolean" || type === "String" || type === "DateTime" || type === "ByteString") {
    return null;
  }
  return "number";
}

/**
 * Why one element does not fit its OPC UA type, or `null`: core's check of
 * a value against its type, as a status (a number of the right kind that
 * does not fit is out of range, anything else cannot be encoded).
 */
function scalarUnfit(type: ScalarType, v: unknown): Unfit | null {
  const problem = valueProblem(type, v as Scalar);
  if (problem === null) return null;
  const kind = numericKind(type);
  const numeric = (kind === "number" && typeof v === "number") ||
    (kind === "bigint" && typeof v === "bigint");
  return numeric ? outOfRange(type, v) : notEncodable(problem);
}

/**
 * Why a point's value, time or status cannot be shown as an OPC UA
 * DataValue of its type, or `null` when it can (a `null` value always can).
 * The source time must be a date (not NaN or ±Infinity); the status a
 * 32-bit integer.
 */
export function dataValueProblem(
  p: Pick<Point, "type" | "value" | "time" | "status">,
): Unfit | null {
  const status = p.status as unknown;
  if (
    typeof status !== "number" || !Number.isInteger(status) || status < -(2 ** 31) ||
    status > 0xffffffff
  ) {
    return notEncodable(`the status ${String(status)} is no 32-bit OPC UA StatusCode`);
  }
  if (typeof p.time !== "number" || !validTime(p.time)) {
    return notEncodable(`the source time ${String(p.time)} is no date`);
  }
  const value = p.value as unknown;
  if (value === null) return null;
  const base = elementType(p.type);
  if (isArrayType(p.type)) {
    if (!Array.isArray(value)) return notEncodable(`${p.type} needs an array`);
    for (let i = 0; i < value.length; i++) {
      const u = scalarUnfit(base, value[i]);
      if (u) return { status: u.status, reason: `element ${i}: ${u.reason}` };
    }
    return null;
  }
  if (Array.isArray(value)) {
    return notEncodable(`${p.type} is no array type, but the value is an array`);
  }
  return scalarUnfit(base, value);
}
