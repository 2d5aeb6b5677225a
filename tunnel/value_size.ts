/**
 * A value's size on the wire, so a link can tell before sending whether a
 * point still fits the next hop's --max-value (a point that does not travels
 * on as Bad without its value instead of breaking the link).
 */
import type { Scalar, Value } from "../core/mod.ts";

/** Bytes of a varuint holding `n`. */
function varuintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** UTF-8 bytes of `s`, without encoding it. */
export function utf8Size(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** Encoded bytes of a value in a data frame (tag included), as the frame writer writes it. */
export function encodedValueSize(v: Value | Scalar): number {
  switch (typeof v) {
    case "number":
      return (v | 0) === v && !Object.is(v, -0) ? 5 : 9;
    case "boolean":
      return 1;
    case "bigint":
      return 9;
    case "string": {
      const n = utf8Size(v);
      return 1 + varuintSize(n) + n;
    }
  }
  if (v === null) return 1;
  if (v instanceof Uint8Array) return 1 + varuintSize(v.length) + v.length;
  if (v instanceof Date) return 9;
  let n = 1 + varuintSize(v.length);
  for (const x of v) n += encodedValueSize(x);
  return n;
}

/**
 * True when a value is larger than `max` encoded bytes. Numbers and short
 * strings answer without measuring: this runs for every point a link sends
 * (arrays, rare, are measured).
 */
export function exceedsSize(v: Value, max: number): boolean {
  if (v === null || typeof v !== "object" && typeof v !== "string") return false;
  if (typeof v === "string") return v.length * 3 + 6 > max && encodedValueSize(v) > max;
  if (v instanceof Uint8Array) return v.length + 6 > max;
  if (v instanceof Date) return false;
  return encodedValueSize(v) > max;
}
