/**
 * A minimal protobuf wire-format writer for the Sparkplug encoder's hot path:
 * varints, fixed 32/64-bit numbers, strings, bytes and nested messages into
 * one growing buffer, without an object per field. Nested messages reserve one
 * length byte and move their body only when it is 128 bytes or longer, so
 * lengths are always minimal varints, as other encoders write them.
 */

const utf8 = new TextEncoder();

/** Wire types of the protobuf encoding. */
export const Wire = { Varint: 0, Fixed64: 1, Bytes: 2, Fixed32: 5 } as const;
type WireType = typeof Wire[keyof typeof Wire];

const two53 = 1n << 53n;
const two64 = 1n << 64n;
const low32 = 0xffffffffn;

/** Bytes of the varint encoding of `v` (0 ≤ v < 2^53). */
function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes one protobuf message (and the messages nested in it). */
export class ProtoWriter {
  #buf = new Uint8Array(4096);
  #view = new DataView(this.#buf.buffer);
  #pos = 0;

  /** Makes room for `n` more bytes. */
  #need(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.#buf.subarray(0, this.#pos));
    this.#buf = bigger;
    this.#view = new DataView(bigger.buffer);
  }

  /** A field's key: its number and wire type. */
  tag(field: number, wire: WireType): void {
    this.varint(field * 8 + wire);
  }

  /** An unsigned varint of a non-negative integer below 2^53. */
  varint(v: number): void {
    const lo = v >>> 0;
    this.#varint(v > 0xffffffff ? (v - lo) / 0x100000000 : 0, lo);
  }

  /** The varint of `hi`·2³² + `lo`, from its two unsigned 32-bit halves, on integer bit operations. */
  #varint(hi: number, lo: number): void {
    this.#need(10);
    const b = this.#buf;
    let p = this.#pos;
    while (hi > 0 || lo > 127) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[p++] = lo;
    this.#pos = p;
  }

  /**
   * An unsigned 64-bit varint (values below 2^53 may also be numbers). A
   * larger bigint is split once into its 32-bit halves: shifting it 7 bits at
   * a time allocated two bigints per byte written (a fifth of what a hop
   * publishing the chain's simulated data allocated). Constants are made once
   * for the same reason.
   */
  uint64(v: number | bigint): void {
    if (typeof v === "number") return this.varint(v);
    if (v < 0n || v >= two64) throw new RangeError(`${v} is not an unsigned 64-bit value`);
    if (v < two53) return this.varint(Number(v));
    this.#varint(Number(v >> 32n), Number(v & low32));
  }

  bool(v: boolean): void {
    this.#need(1);
    this.#buf[this.#pos++] = v ? 1 : 0;
  }

  float(v: number): void {
    this.#need(4);
    this.#view.setFloat32(this.#pos, v, true);
    this.#pos += 4;
  }

  double(v: number): void {
    this.#need(8);
    this.#view.setFloat64(this.#pos, v, true);
    this.#pos += 8;
  }

  /** A length-delimited UTF-8 string. */
  string(s: string): void {
    // ASCII (most names and ids) is written as is; anything else through the encoder.
    const n = s.length;
    if (n < 128) {
      this.#need(n + 1);
      const b = this.#buf;
      const start = this.#pos;
      b[start] = n;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 128) break;
        b[start + 1 + i] = c;
      }
      if (i === n) {
        this.#pos = start + 1 + n;
        return;
      }
    }
    this.bytes(utf8.encode(s));
  }

  /** Length-delimited bytes. */
  bytes(v: Uint8Array): void {
    this.varint(v.length);
    this.#need(v.length);
    this.#buf.set(v, this.#pos);
    this.#pos += v.length;
  }

  /** Starts a nested message; pass the result to {@link end}. */
  begin(): number {
    this.#need(1);
    return this.#pos++;
  }

  /** Ends the nested message begun at `start`: writes its length before it. */
  end(start: number): void {
    const len = this.#pos - start - 1;
    const size = varintSize(len);
    if (size > 1) {
      this.#need(size - 1);
      this.#buf.copyWithin(start + size, start + 1, this.#pos);
      this.#pos += size - 1;
    }
    const b = this.#buf;
    let p = start, v = len;
    while (v >= 128) {
      b[p++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    b[p] = v;
  }

  /** The message written so far, as a copy; the writer starts over. */
  finish(): Uint8Array {
    const out = this.#buf.slice(0, this.#pos);
    this.#pos = 0;
    return out;
  }
}
