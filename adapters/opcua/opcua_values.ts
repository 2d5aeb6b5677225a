/**
 * Exact conversion between OPC UA Variants (as node-opcua represents them)
 * and hopgate values. 64-bit integers travel as `[high, low]` uint32 pairs in
 * node-opcua and as `bigint` in hopgate, so no value is ever rounded through
 * a float. Loaded only together with node-opcua (see mod.ts).
 */
import { Buffer } from "node:buffer";
import { DataType as UaType, VariantArrayType, type VariantOptions } from "node-opcua-client";
import {
  type DataType,
  elementType,
  isArrayType,
  type Scalar,
  type ScalarType,
  scalarTypes,
  type Value,
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
