/**
 * Writes data frames, the tunnel's hot path: point definitions, states and
 * removals in a hand-written binary layout (docs/tunnel-protocol.md), built
 * in place in one buffer reused from frame to frame, without an object per
 * point. States name points by a per-link index defined once, so id strings
 * are not encoded again for every change.
 */
import type { DataType, FailureCause, Scalar, Value } from "../core/mod.ts";
import { FrameType, headerSize } from "./frames.ts";
import * as dataFormat from "./_data_format.ts";

// Module-local constants: V8 folds a module's own constants into the hot loops, but loads an
// imported binding from its cell at every use (decoding was 9% slower with the imports used
// directly, deno bench).
const { causeFlag, codeByType, RecordKind, samePath, ValueTag } = dataFormat;

const utf8 = new TextEncoder();

/** True when two string lists are equal (paths are usually the same shared array). */
function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Builds one data frame from definitions, states and removals, in the order
 * given, into a buffer reused from frame to frame.
 */
export class DataFrameWriter {
  #buf: Uint8Array;
  #view: DataView;
  #at = headerSize;
  #entries = 0;
  /** The previous definition's id (UTF-8) and path in this frame. */
  #prevId = new Uint8Array(64);
  #prevIdLength = 0;
  #prevHops: readonly string[] | null = null;
  #scratch = new Uint8Array(64);
  #idBytes = 0;

  /** A writer whose buffer starts at `initialBytes` and grows as frames need. */
  constructor(initialBytes = 64 * 1024) {
    this.#buf = new Uint8Array(initialBytes);
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Bytes of the frame so far, header included. */
  get bytes(): number {
    return this.#at;
  }

  /** Records written since the last {@link finish}. */
  get entries(): number {
    return this.#entries;
  }

  /** Id bytes a reader decodes for this frame's definitions (a sender cuts frames at `idBytesPerFrame`). */
  get idBytes(): number {
    return this.#idBytes;
  }

  /**
   * Defines (or redefines) a per-link index: the point's id, type and hop
   * path. Within a frame the id is sent as the bytes it shares with the
   * previous definition's id plus the rest, and a path equal to the previous
   * definition's as one byte (points of one device and route come together).
   */
  definition(index: number, id: string, type: DataType, hops: readonly string[]): void {
    const code = codeByType.get(type);
    if (code === undefined) throw new Error(`Unknown data type ${type}`);
    this.#room(16);
    this.#buf[this.#at++] = RecordKind.Definition;
    this.#varuint(index);
    const idBytes = this.#utf8(id);
    const prev = this.#prevId;
    const limit = Math.min(idBytes.length, this.#prevIdLength);
    let shared = 0;
    while (shared < limit && idBytes[shared] === prev[shared]) shared++;
    this.#varuint(shared);
    this.#bytes(idBytes.subarray(shared));
    if (shared !== this.#prevIdLength || idBytes.length !== shared) this.#idBytes += idBytes.length;
    this.#rememberId(idBytes);
    this.#room(8);
    this.#buf[this.#at++] = code;
    if (this.#prevHops !== null && sameStrings(hops, this.#prevHops)) {
      this.#varuint(samePath);
    } else {
      this.#varuint(hops.length);
      for (let i = 0; i < hops.length; i++) this.#str(hops[i]!);
      this.#prevHops = hops;
    }
    this.#entries++;
  }

  /** `s` as UTF-8, in a scratch buffer valid until the next call. */
  #utf8(s: string): Uint8Array {
    const n = s.length;
    if (this.#scratch.length < n * 3) this.#scratch = new Uint8Array(n * 3);
    const b = this.#scratch;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return b.subarray(0, utf8.encodeInto(s, b).written);
      b[i] = c;
    }
    return b.subarray(0, n);
  }

  #rememberId(bytes: Uint8Array): void {
    if (this.#prevId.length < bytes.length) this.#prevId = new Uint8Array(bytes.length * 2);
    this.#prevId.set(bytes);
    this.#prevIdLength = bytes.length;
  }

  /** Length-prefixed raw bytes. */
  #bytes(bytes: Uint8Array): void {
    this.#room(bytes.length + 5);
    this.#varuint(bytes.length);
    this.#buf.set(bytes, this.#at);
    this.#at += bytes.length;
  }

  /** A point's state under a defined index. */
  state(
    index: number,
    value: Value,
    status: number,
    time: number,
    cause: FailureCause | null,
  ): void {
    this.#room(32);
    this.#buf[this.#at++] = RecordKind.State;
    this.#varuint(index);
    const tagAt = this.#at;
    this.#value(value);
    this.#room(12);
    const v = this.#view;
    v.setUint32(this.#at, status);
    v.setFloat64(this.#at + 4, time);
    this.#at += 12;
    if (cause !== null) {
      this.#buf[tagAt]! |= causeFlag;
      this.#str(cause.hop);
      this.#str(cause.via);
      this.#room(8);
      this.#view.setFloat64(this.#at, cause.since);
      this.#at += 8;
      this.#str(cause.reason);
    }
    this.#entries++;
  }

  /** The point under `index` is gone. */
  removal(index: number): void {
    this.#room(8);
    this.#buf[this.#at++] = RecordKind.Removal;
    this.#varuint(index);
    this.#entries++;
  }

  /** The frame, header included, as a new array; the writer starts a new frame. */
  finish(): Uint8Array {
    this.#view.setUint32(0, this.#at - 4);
    this.#buf[4] = FrameType.Data;
    const out = this.#buf.slice(0, this.#at);
    this.#at = headerSize;
    this.#entries = 0;
    this.#idBytes = 0;
    this.#prevIdLength = 0;
    this.#prevHops = null;
    return out;
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const bigger = new Uint8Array(Math.max(this.#buf.length * 2, this.#at + n));
    bigger.set(this.#buf.subarray(0, this.#at));
    this.#buf = bigger;
    this.#view = new DataView(bigger.buffer);
  }

  #varuint(n: number): void {
    const b = this.#buf;
    let at = this.#at;
    while (n >= 0x80) {
      b[at++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    b[at++] = n;
    this.#at = at;
  }

  #str(s: string): void {
    this.#bytes(this.#utf8(s));
  }

  #value(v: Value | Scalar): void {
    this.#room(10);
    const b = this.#buf;
    switch (typeof v) {
      case "number":
        if ((v | 0) === v && !Object.is(v, -0)) {
          b[this.#at] = ValueTag.I32;
          this.#view.setInt32(this.#at + 1, v);
          this.#at += 5;
        } else {
          b[this.#at] = ValueTag.F64;
          this.#view.setFloat64(this.#at + 1, v);
          this.#at += 9;
        }
        return;
      case "boolean":
        b[this.#at++] = v ? ValueTag.True : ValueTag.False;
        return;
      case "bigint":
        if (v >= 0n) {
          b[this.#at] = ValueTag.U64;
          this.#view.setBigUint64(this.#at + 1, v);
        } else {
          b[this.#at] = ValueTag.I64;
          this.#view.setBigInt64(this.#at + 1, v);
        }
        this.#at += 9;
        return;
      case "string":
        b[this.#at++] = ValueTag.Str;
        this.#str(v);
        return;
    }
    if (v === null) {
      b[this.#at++] = ValueTag.Null;
    } else if (v instanceof Uint8Array) {
      b[this.#at++] = ValueTag.Bytes;
      this.#varuint(v.length);
      this.#room(v.length);
      this.#buf.set(v, this.#at);
      this.#at += v.length;
    } else if (v instanceof Date) {
      b[this.#at] = ValueTag.Date;
      this.#view.setFloat64(this.#at + 1, v.getTime());
      this.#at += 9;
    } else if (Array.isArray(v)) {
      b[this.#at++] = ValueTag.Array;
      this.#varuint(v.length);
      for (const x of v) this.#value(x);
    } else throw new Error(`Cannot encode value ${String(v)}`);
  }
}
