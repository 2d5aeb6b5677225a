/**
 * Reads data frames as the peer sent them, record by record, without an
 * object per record: every length and limit is checked before the bytes it
 * covers are decoded, so a hostile frame costs no more than its size. Values
 * come out as their wire tags give them; the receiving link types each one
 * by its point's declared type.
 */
import type { DataType, FailureCause, Scalar, Value } from "../core/mod.ts";
import { ProtocolError, RuleError } from "./frames.ts";
import * as dataFormat from "./_data_format.ts";
import { ShortTextCache } from "./short_text_cache.ts";

// Module-local constants: V8 folds a module's own constants into the hot loops, but loads an
// imported binding from its cell at every use (decoding was 9% slower with the imports used
// directly, deno bench).
const { causeFlag, idDecodeBudget, RecordKind, samePath, typeByCode, ValueTag } = dataFormat;

// ignoreBOM keeps a leading U+FEFF: it is part of the text the peer sent.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenientUtf8 = new TextDecoder("utf-8", { ignoreBOM: true });
/** Text values read lately, shared by every reader of the process (see the class). */
const recentTexts = new ShortTextCache();

/** What a data frame's records are handed to, in order. */
export interface DataVisitor {
  /** A point is defined at `index` for the rest of the link session. */
  definition(index: number, id: string, type: DataType, hops: string[]): void;
  /**
   * `value` as its wire tag gives it, not yet typed: the receiver types it by
   * the point's declared type (and refuses one that does not fit), or {@link tooLarge}.
   */
  state(
    index: number,
    value: Value | typeof tooLarge,
    status: number,
    time: number,
    cause: FailureCause | null,
  ): void;
  /** The point at `index` was removed at its origin. */
  removal(index: number): void;
}

/**
 * Strict UTF-8 of `n` bytes at `start`. The lenient decoder, which turns
 * malformed bytes into U+FFFD, is two to three times as fast as the fatal one
 * in Deno 2.9 and faster than `String.fromCharCode` from 25 bytes on
 * (100,000 ids of 4 to 100 bytes); text with a U+FFFD, malformed or sent as
 * such, is decoded again strictly.
 */
function decodeUtf8(b: Uint8Array, start: number, n: number): string {
  const text = lenientUtf8.decode(b.subarray(start, start + n));
  if (!text.includes("\uFFFD")) return text;
  try {
    return strictUtf8.decode(b.subarray(start, start + n));
  } catch {
    throw new ProtocolError("Malformed data batch: invalid UTF-8");
  }
}

/**
 * Longest id read by {@link asciiId} rather than by the decoder: a new point's
 * id is read once, when the peer defines it, and a snapshot defines every
 * point. Decoding 100,000 ids of 19 to 25 ASCII bytes and keying a map by
 * them took 54–68 ms this way against 69–90 with the decoder (medians of 21
 * passes, two processes); for ids of about 60 bytes the two were level.
 */
const maxCharCodeId = 32;
/** Char codes of the id being read by {@link asciiId}, reused. */
const idCodes: number[] = [];

/**
 * The text of the first `n` bytes of `b` when they are all ASCII, as one
 * `String.fromCharCode` call over their codes (no view, no decoder call);
 * `undefined` when any is beyond ASCII, for the UTF-8 decoder.
 */
function asciiId(b: Uint8Array, n: number): string | undefined {
  let high = 0;
  idCodes.length = n;
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    high |= c;
    idCodes[i] = c;
  }
  return high < 128 ? String.fromCharCode.apply(null, idCodes) : undefined;
}

/** What a data frame may hold; a reader refuses more before decoding it. */
export interface ReadLimits {
  /** Longest id, and longest text of a failure cause, in UTF-8 bytes. */
  maxId: number;
  /** Longest hop path, in hops. */
  maxHops: number;
  /** Largest string, byte string or array value, in encoded bytes; larger ones read as {@link tooLarge}. */
  maxValue: number;
}

/** Limits of a reader that is not told otherwise (tests and tools). */
export const defaultReadLimits: ReadLimits = { maxId: 1024, maxHops: 16, maxValue: 256 * 1024 };

/** A value the reader skipped because it exceeds {@link ReadLimits.maxValue}. */
export const tooLarge: unique symbol = Symbol("tooLarge");

/** Reads a data frame body record by record; throws {@link ProtocolError} on anything malformed. */
export function readDataFrame(
  body: Uint8Array,
  visitor: DataVisitor,
  limits: ReadLimits = defaultReadLimits,
): void {
  new DataReader(limits).read(body, visitor);
}

/** Reads data frames, one after the other, under a link's limits. */
export class DataReader {
  #limits: ReadLimits;
  #body: Uint8Array = new Uint8Array(0);
  #view: DataView = new DataView(this.#body.buffer);
  #at = 0;
  /** The previous definition's id (UTF-8), its decoded text, and hop path in this body. */
  #prevId = new Uint8Array(64);
  #prevIdLength = 0;
  #prevIdText = "";
  #lastHops: string[] | null = null;
  /** Id bytes still to be decoded in this frame. */
  #budget = 0;
  /** A string of the value being read was skipped for its size. */
  #skipped = false;
  /**
   * The last failure cause read and its encoded bytes: a cause encoded the
   * same is the same object, not decoded again. A lost origin's points all
   * carry one cause, so a snapshot of them held one object and three strings
   * per point.
   */
  #prevCause: FailureCause | null = null;
  #prevCauseBytes = new Uint8Array(256);
  #prevCauseLength = 0;

  /** A reader that refuses what exceeds `limits`. */
  constructor(limits: ReadLimits) {
    this.#limits = limits;
  }

  /** Reads one frame body, handing each record to `visitor`. */
  read(body: Uint8Array, visitor: DataVisitor): void {
    this.#body = body;
    this.#view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    this.#at = 0;
    this.#prevIdLength = 0;
    this.#prevIdText = "";
    this.#lastHops = null;
    this.#budget = idDecodeBudget + body.length;
    const b = this.#body;
    while (this.#at < b.length) {
      const kind = b[this.#at++];
      const index = this.#varuint();
      if (kind === RecordKind.State) {
        this.#need(1);
        const tag = b[this.#at++]!;
        const value = this.#value(tag & ~causeFlag);
        this.#need(12);
        const status = this.#view.getUint32(this.#at);
        const time = this.#view.getFloat64(this.#at + 4);
        this.#at += 12;
        visitor.state(index, value, status, time, tag & causeFlag ? this.#cause() : null);
      } else if (kind === RecordKind.Definition) {
        const id = this.#id();
        this.#need(1);
        const type = typeByCode[b[this.#at++]!];
        if (type === undefined) throw new ProtocolError("Malformed point definition: unknown type");
        visitor.definition(index, id, type, this.#hops());
      } else if (kind === RecordKind.Removal) {
        visitor.removal(index);
      } else throw new ProtocolError(`Malformed data batch: record kind ${kind}`);
    }
  }

  /** A state's failure cause: the previous one when its bytes are the same. */
  #cause(): FailureCause {
    const b = this.#body;
    const from = this.#at;
    const n = this.#prevCauseLength;
    if (this.#prevCause !== null && from + n <= b.length) {
      const prev = this.#prevCauseBytes;
      let i = 0;
      while (i < n && b[from + i] === prev[i]) i++;
      // The same bytes parse the same: lengths, texts and time.
      if (i === n) {
        this.#at = from + n;
        return this.#prevCause;
      }
    }
    const max = this.#limits.maxId;
    const hop = this.#str(max), via = this.#str(max);
    this.#need(8);
    const since = this.#view.getFloat64(this.#at);
    this.#at += 8;
    const cause = { hop, via, since, reason: this.#str(max) };
    const length = this.#at - from;
    if (this.#prevCauseBytes.length < length) this.#prevCauseBytes = new Uint8Array(length * 2);
    this.#prevCauseBytes.set(b.subarray(from, this.#at));
    this.#prevCauseLength = length;
    this.#prevCause = cause;
    return cause;
  }

  #need(n: number): void {
    if (this.#at + n > this.#body.length) {
      throw new ProtocolError("Malformed data batch: truncated");
    }
  }

  /**
   * A definition's id: the bytes shared with the previous definition's id,
   * then the rest. An id equal to the previous one is not decoded again.
   */
  #id(): string {
    const shared = this.#varuint();
    if (shared > this.#prevIdLength) {
      throw new ProtocolError("Malformed point definition: shares more than the previous id");
    }
    const n = this.#varuint();
    const at = this.#take(n);
    if (n === 0 && shared === this.#prevIdLength && shared > 0) return this.#prevIdText;
    const length = shared + n;
    if (length > this.#limits.maxId) {
      throw new RuleError(
        `a point id of ${length} bytes exceeds --max-id (${this.#limits.maxId})`,
      );
    }
    this.#budget -= length;
    if (this.#budget < 0) {
      throw new RuleError(
        `the ids of one frame need more than ${idDecodeBudget} bytes of decoding beyond its length (decode work per frame)`,
      );
    }
    if (this.#prevId.length < length) {
      const bigger = new Uint8Array(length * 2);
      bigger.set(this.#prevId.subarray(0, shared));
      this.#prevId = bigger;
    }
    const id = this.#prevId, body = this.#body;
    for (let i = 0; i < n; i++) id[shared + i] = body[at + i]!;
    this.#prevIdLength = length;
    this.#prevIdText = length <= maxCharCodeId
      ? asciiId(id, length) ?? decodeUtf8(id, 0, length)
      : decodeUtf8(id, 0, length);
    return this.#prevIdText;
  }

  /** A definition's hop path: the previous definition's (the same array) or a new one. */
  #hops(): string[] {
    const n = this.#varuint();
    if (n === samePath) {
      if (this.#lastHops === null) {
        throw new ProtocolError("Malformed point definition: no previous path to repeat");
      }
      return this.#lastHops;
    }
    if (n > this.#limits.maxHops) {
      throw new RuleError(`a hop path of ${n} hops exceeds --max-hops (${this.#limits.maxHops})`);
    }
    const hops: string[] = [];
    for (let i = 0; i < n; i++) hops.push(this.#str(63));
    this.#lastHops = hops;
    return hops;
  }

  /** Checks that `n` bytes remain, consumes them and returns where they start. */
  #take(n: number): number {
    this.#need(n);
    const at = this.#at;
    this.#at += n;
    return at;
  }

  #varuint(): number {
    const b = this.#body;
    let n = 0, mul = 1;
    for (let i = 0; i < 5; i++) {
      this.#need(1);
      const x = b[this.#at++]!;
      n += (x & 0x7f) * mul;
      if (x < 0x80) return n;
      mul *= 128;
    }
    throw new ProtocolError("Malformed data batch: bad length");
  }

  /** A string of at most `max` bytes (a longer one breaks a rule: the link closes). */
  #str(max: number): string {
    const n = this.#varuint();
    if (n > max) throw new RuleError(`a text of ${n} bytes in a point exceeds ${max} bytes`);
    return decodeUtf8(this.#body, this.#take(n), n);
  }

  /** A state's value; one larger than --max-value is skipped and read as {@link tooLarge}. */
  #value(tag: number): Value | typeof tooLarge {
    const from = this.#at;
    this.#skipped = false;
    const v = this.#scalarOrArray(tag);
    return this.#skipped || this.#at - from > this.#limits.maxValue ? tooLarge : v;
  }

  #scalarOrArray(tag: number): Value {
    const v = this.#view;
    switch (tag) {
      case ValueTag.F64:
        return v.getFloat64(this.#take(8));
      case ValueTag.I32:
        return v.getInt32(this.#take(4));
      case ValueTag.True:
        return true;
      case ValueTag.False:
        return false;
      case ValueTag.Null:
        return null;
      case ValueTag.Str: {
        const n = this.#varuint();
        const at = this.#take(n);
        if (n <= this.#limits.maxValue) {
          return recentTexts.read(this.#body, at, n) ?? decodeUtf8(this.#body, at, n);
        }
        // Skipped undecoded (also as an array element): the value reads as tooLarge.
        this.#skipped = true;
        return "";
      }
      case ValueTag.I64:
        return v.getBigInt64(this.#take(8));
      case ValueTag.U64:
        return v.getBigUint64(this.#take(8));
      case ValueTag.Date:
        return new Date(v.getFloat64(this.#take(8)));
      case ValueTag.Bytes: {
        const n = this.#varuint();
        const at = this.#take(n);
        return this.#body.subarray(at, at + n);
      }
      case ValueTag.Array: {
        const n = this.#varuint();
        this.#need(n);
        const out: Scalar[] = [];
        for (let i = 0; i < n; i++) {
          this.#need(1);
          const x = this.#scalarOrArray(this.#body[this.#at++]!);
          if (x === null || Array.isArray(x)) {
            throw new ProtocolError("Malformed data batch: nested array or null element");
          }
          out.push(x);
        }
        return out;
      }
    }
    throw new ProtocolError(`Malformed data batch: value tag ${tag}`);
  }
}
