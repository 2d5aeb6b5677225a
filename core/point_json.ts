/**
 * Point values and times as JSON, shared by `hopgate watch` lines and the
 * MQTT JSON payloads so both print a point the same way. JSON has no 64-bit
 * integers, dates or bytes: Int64/UInt64 become decimal strings (exact),
 * DateTime ISO 8601 text, ByteString base64. Nothing here throws: a time or
 * date that is no date (NaN, ±Infinity, beyond ±8.64e15 ms) becomes `null`,
 * so one broken point cannot stop a watcher, a publish or a buffer record.
 */
import { toBase64 } from "./base64.ts";
import type { Scalar, Value } from "./point.ts";

/** Epoch milliseconds as ISO 8601 text, or `null` when they are no date. */
export function isoTime(ms: number): string | null {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** How {@linkcode jsonValue} writes what JSON cannot hold as such. */
export interface JsonValueOptions {
  /**
   * Write NaN and ±Infinity as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`,
   * so that they read back (the MQTT payloads). Otherwise they stay numbers,
   * which `JSON.stringify` prints as `null` (`hopgate watch`).
   */
  nonFiniteAsText?: boolean;
}

function scalarJson(v: Scalar, nonFiniteAsText: boolean): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Date) return isoTime(v.getTime());
  if (v instanceof Uint8Array) return toBase64(v);
  if (nonFiniteAsText && typeof v === "number" && !Number.isFinite(v)) return String(v);
  return v;
}

/** A value (scalar, array or `null`) in its JSON form. */
export function jsonValue(v: Value, options: JsonValueOptions = {}): unknown {
  if (v === null) return null;
  const text = options.nonFiniteAsText === true;
  return Array.isArray(v) ? v.map((x) => scalarJson(x, text)) : scalarJson(v, text);
}
