/**
 * The tunnel's wire format: length-prefixed frames. Control frames carry
 * MessagePack bodies; data frames, the hot path, a hand-written binary layout
 * written and read in place without intermediate objects. Deltas name points
 * by a per-link numeric index defined once, so the hot path never re-encodes
 * id strings. See docs/tunnel-protocol.md for the layouts.
 */
// The pure-JS entry: the default one probes an environment variable and a native addon,
// which a hop's sandbox does not grant.
import { Packr } from "msgpackr/pack";
import {
  type DataType,
  elementType,
  type FailureCause,
  isArrayType,
  isDataType,
  type Scalar,
  scalarTypes,
  type Value,
} from "../core/mod.ts";

/** The protocol version sent in hello; a peer with another version is refused. */
export const protocolVersion = 3;

/** Bytes before each frame body: u32 big-endian body length, then a u8 frame type. */
export const headerSize = 5;

/** Frame types (the byte after the length). */
export const FrameType = {
  Hello: 1,
  SnapshotBegin: 2,
  Data: 3,
  SnapshotEnd: 4,
  Ping: 5,
  Pong: 6,
  Write: 7,
  WriteResult: 8,
  Close: 9,
  Ack: 10,
} as const;

/** One of {@link FrameType}'s values. */
export type FrameTypeCode = typeof FrameType[keyof typeof FrameType];

/** Which way data flows on a link, as the dialer asked for it. */
export type Direction = "push" | "pull";

/** The first frame each side sends. */
export interface Hello {
  version: number;
  /** The sender's hop name (must match its certificate). */
  hop: string;
  /** The hop the sender believes it talks to. */
  to: string;
  /** `push`: the dialer sends its data set; `pull`: the listener sends. */
  direction: Direction;
}

/** A point's identity on one link, sent once per index (again when type or hops change). */
export interface PointDefinition {
  index: number;
  id: string;
  type: DataType;
  hops: string[];
}

/** A point's state on one link. */
export interface PointState {
  index: number;
  value: Value;
  status: number;
  time: number;
  cause: FailureCause | null;
}

/** A batch of changes: definitions first, then states, then removals. */
export interface DataBatch {
  defs: PointDefinition[];
  states: PointState[];
  removed: number[];
}

/** A write request on the wire. */
export interface WriteFrame {
  rid: number;
  id: string;
  type: DataType;
  value: Value;
  via: string[];
}

/** A decoded frame. */
export type Frame =
  | { type: typeof FrameType.Hello; hello: Hello }
  | { type: typeof FrameType.SnapshotBegin }
  | { type: typeof FrameType.Data; body: Uint8Array }
  | { type: typeof FrameType.SnapshotEnd; count: number }
  | { type: typeof FrameType.Ping; t: number }
  | { type: typeof FrameType.Ack; bytes: number }
  | { type: typeof FrameType.Pong; t: number }
  | { type: typeof FrameType.Write; write: WriteFrame }
  | { type: typeof FrameType.WriteResult; rid: number; status: number }
  | { type: typeof FrameType.Close; reason: string };

/** A frame the peer sent that breaks the protocol; the link closes with its message. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/**
 * A well-formed frame that breaks this hop's rules for the peer (its role,
 * its origins, a limit); the link closes with the rule named.
 */
export class RuleError extends ProtocolError {
  override name = "RuleError";
}

const packr = new Packr({
  useRecords: false,
  int64AsType: "bigint",
  mapsAsObjects: true,
  moreTypes: false,
});

/** Encodes one frame: header plus MessagePack body. */
export function encodeFrame(type: FrameTypeCode, body: unknown): Uint8Array {
  const payload = packr.pack(body) as Uint8Array;
  const out = new Uint8Array(headerSize + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length + 1);
  out[4] = type;
  out.set(payload, headerSize);
  return out;
}

/** Encodes a hello frame. */
export function helloFrame(hello: Hello): Uint8Array {
  return encodeFrame(FrameType.Hello, [hello.version, hello.hop, hello.to, hello.direction]);
}

/** Encodes a data batch (tests and tools; links write with {@link DataFrameWriter}). */
export function dataFrame(batch: DataBatch): Uint8Array {
  const w = new DataFrameWriter();
  for (const d of batch.defs) w.definition(d.index, d.id, d.type, d.hops);
  for (const s of batch.states) w.state(s.index, s.value, s.status, s.time, s.cause);
  for (const r of batch.removed) w.removal(r);
  return w.finish();
}

/** Encodes a write request. */
export function writeFrame(w: WriteFrame): Uint8Array {
  return encodeFrame(FrameType.Write, [w.rid, w.id, w.type, w.value, w.via]);
}

/** Encodes a frame without structured content. */
export function simpleFrame(
  type:
    | typeof FrameType.SnapshotBegin
    | typeof FrameType.SnapshotEnd
    | typeof FrameType.Ping
    | typeof FrameType.Pong
    | typeof FrameType.Close
    | typeof FrameType.Ack,
  arg: number | string = 0,
): Uint8Array {
  return encodeFrame(type, arg);
}

/** Encodes a write result. */
export function writeResultFrame(rid: number, status: number): Uint8Array {
  return encodeFrame(FrameType.WriteResult, [rid, status]);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function num(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ProtocolError(`Bad ${what}`);
  return v;
}

/**
 * Decodes one frame body; throws {@link ProtocolError} on anything malformed.
 * A data frame's body is returned as is, for {@link readDataFrame}.
 */
export function decodeFrame(type: number, body: Uint8Array): Frame {
  if (type === FrameType.Data) return { type, body };
  let v: unknown;
  try {
    v = packr.unpack(body);
  } catch (e) {
    throw new ProtocolError(`Undecodable frame body: ${(e as Error).message}`);
  }
  switch (type) {
    case FrameType.Hello: {
      const a = v as unknown[];
      if (
        !Array.isArray(a) || typeof a[0] !== "number" || typeof a[1] !== "string" ||
        typeof a[2] !== "string" || (a[3] !== "push" && a[3] !== "pull")
      ) throw new ProtocolError("Malformed hello");
      return {
        type,
        hello: { version: a[0], hop: a[1], to: a[2], direction: a[3] },
      };
    }
    case FrameType.SnapshotBegin:
      return { type };
    case FrameType.SnapshotEnd:
      return { type, count: num(v, "snapshot count") };
    case FrameType.Ping:
    case FrameType.Pong:
      return { type, t: num(v, "heartbeat time") };
    case FrameType.Write: {
      const a = v as unknown[];
      if (
        !Array.isArray(a) || typeof a[1] !== "string" || typeof a[2] !== "string" ||
        !isDataType(a[2]) || !isStringArray(a[4])
      ) throw new ProtocolError("Malformed write request");
      return {
        type,
        write: {
          rid: num(a[0], "write id"),
          id: a[1],
          type: a[2],
          value: typedValue(a[2], a[3]),
          via: a[4],
        },
      };
    }
    case FrameType.WriteResult: {
      const a = v as unknown[];
      if (!Array.isArray(a)) throw new ProtocolError("Malformed write result");
      return { type, rid: num(a[0], "write id"), status: num(a[1], "write status") >>> 0 };
    }
    case FrameType.Ack:
      return { type, bytes: num(v, "acknowledged bytes") };
    case FrameType.Close:
      if (typeof v !== "string") throw new ProtocolError("Malformed close: no reason text");
      return { type, reason: v.slice(0, 500) };
  }
  throw new ProtocolError(`Unknown frame type ${type}`);
}

/**
 * Turns a decoded value into the exact type the point declares: MessagePack
 * sends small 64-bit integers as plain numbers and bytes come back as Buffers.
 */
export function typedValue(type: DataType, raw: unknown): Value {
  if (raw === null || raw === undefined) return null;
  const base = elementType(type);
  if (isArrayType(type)) {
    if (!Array.isArray(raw)) throw new ProtocolError(`${type} value is not an array`);
    return raw.map((x) => typedScalar(base, x));
  }
  return typedScalar(base, raw);
}

function typedScalar(type: DataType, raw: unknown): Scalar {
  switch (type) {
    case "Int64":
    case "UInt64":
      if (typeof raw === "bigint") return raw;
      if (typeof raw === "number" && Number.isInteger(raw)) return BigInt(raw);
      break;
    case "ByteString":
      if (raw instanceof Uint8Array) return new Uint8Array(raw);
      break;
    case "DateTime":
      if (raw instanceof Date) return raw;
      break;
    case "Boolean":
      if (typeof raw === "boolean") return raw;
      break;
    case "String":
      if (typeof raw === "string") return raw;
      break;
    default:
      if (typeof raw === "number") return raw;
  }
  throw new ProtocolError(`Value does not fit ${type}`);
}

/**
 * Cuts a byte stream into frames. Refuses a frame whose declared length
 * exceeds the limit before buffering it, so a peer cannot make it grow.
 */
export class FrameReader {
  #max: number;
  #buf = new Uint8Array(0);
  #len = 0;

  constructor(maxFrame: number) {
    this.#max = maxFrame;
  }

  /** Bytes held waiting for the rest of a frame. */
  get buffered(): number {
    return this.#len;
  }

  /** Adds received bytes and returns the complete frames as [type, body] pairs. */
  push(chunk: Uint8Array): [number, Uint8Array][] {
    let data: Uint8Array;
    if (this.#len === 0) data = chunk;
    else {
      const need = this.#len + chunk.length;
      if (this.#buf.length < need) {
        const bigger = new Uint8Array(Math.max(need, this.#buf.length * 2));
        bigger.set(this.#buf.subarray(0, this.#len));
        this.#buf = bigger;
      }
      this.#buf.set(chunk, this.#len);
      this.#len = need;
      data = this.#buf.subarray(0, need);
    }
    const out: [number, Uint8Array][] = [];
    let at = 0;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    while (data.length - at >= 4) {
      const len = view.getUint32(at);
      if (len === 0) throw new ProtocolError("Empty frame");
      if (len - 1 > this.#max) {
        throw new ProtocolError(`Frame of ${len - 1} bytes exceeds --max-frame (${this.#max})`);
      }
      if (data.length - at < 4 + len) break;
      // Copied out: the buffer is reused for the next chunk.
      out.push([data[at + 4]!, data.slice(at + headerSize, at + 4 + len)]);
      at += 4 + len;
    }
    const rest = data.length - at;
    if (rest === 0) this.#len = 0;
    else if (data === chunk) {
      if (this.#buf.length < rest) this.#buf = new Uint8Array(Math.max(rest, 4096));
      this.#buf.set(chunk.subarray(at), 0);
      this.#len = rest;
    } else {
      this.#buf.copyWithin(0, at, data.length);
      this.#len = rest;
    }
    return out;
  }
}

// ---- data frames: a binary layout written and read in place ----

/** Record kinds in a data frame body. */
const Rec = { Definition: 1, State: 2, Removal: 3 } as const;

/** Value tags. A state's tag with bit 7 set is followed by a failure cause. */
const Tag = {
  Null: 0,
  False: 1,
  True: 2,
  F64: 3,
  I32: 4,
  I64: 5,
  U64: 6,
  Str: 7,
  Bytes: 8,
  Date: 9,
  Array: 10,
} as const;
const causeFlag = 0x80;

/** Data types as one byte: the index in scalarTypes, plus 0x80 for arrays. */
const typeByCode: (DataType | undefined)[] = [];
const codeByType = new Map<DataType, number>();
for (let i = 0; i < scalarTypes.length; i++) {
  const t = scalarTypes[i]!;
  typeByCode[i] = t;
  typeByCode[i | 0x80] = `${t}[]`;
  codeByType.set(t, i);
  codeByType.set(`${t}[]`, i | 0x80);
}

const utf8 = new TextEncoder();
/** Hop count that means "the previous definition's path in this frame" (real paths have ≤ 64). */
const samePath = 65;
// ignoreBOM keeps a leading U+FEFF: it is part of the text the peer sent.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

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

  /** Id bytes a reader decodes for this frame's definitions (see {@link idBytesPerFrame}). */
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
    this.#buf[this.#at++] = Rec.Definition;
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
    this.#buf[this.#at++] = Rec.State;
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
    this.#buf[this.#at++] = Rec.Removal;
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
          b[this.#at] = Tag.I32;
          this.#view.setInt32(this.#at + 1, v);
          this.#at += 5;
        } else {
          b[this.#at] = Tag.F64;
          this.#view.setFloat64(this.#at + 1, v);
          this.#at += 9;
        }
        return;
      case "boolean":
        b[this.#at++] = v ? Tag.True : Tag.False;
        return;
      case "bigint":
        if (v >= 0n) {
          b[this.#at] = Tag.U64;
          this.#view.setBigUint64(this.#at + 1, v);
        } else {
          b[this.#at] = Tag.I64;
          this.#view.setBigInt64(this.#at + 1, v);
        }
        this.#at += 9;
        return;
      case "string":
        b[this.#at++] = Tag.Str;
        this.#str(v);
        return;
    }
    if (v === null) {
      b[this.#at++] = Tag.Null;
    } else if (v instanceof Uint8Array) {
      b[this.#at++] = Tag.Bytes;
      this.#varuint(v.length);
      this.#room(v.length);
      this.#buf.set(v, this.#at);
      this.#at += v.length;
    } else if (v instanceof Date) {
      b[this.#at] = Tag.Date;
      this.#view.setFloat64(this.#at + 1, v.getTime());
      this.#at += 9;
    } else if (Array.isArray(v)) {
      b[this.#at++] = Tag.Array;
      this.#varuint(v.length);
      for (const x of v) this.#value(x);
    } else throw new Error(`Cannot encode value ${String(v)}`);
  }
}

/** What a data frame's records are handed to, in order. */
export interface DataVisitor {
  definition(index: number, id: string, type: DataType, hops: string[]): void;
  /** `value` is as sent (the receiver checks it against the point's type), or {@link tooLarge}. */
  state(
    index: number,
    value: Value | typeof tooLarge,
    status: number,
    time: number,
    cause: FailureCause | null,
  ): void;
  removal(index: number): void;
}

/** Strict UTF-8 of `n` bytes at `start` (short ASCII without the decoder). */
function decodeUtf8(b: Uint8Array, start: number, n: number): string {
  if (n <= 64) {
    let ascii = true;
    for (let i = start; i < start + n; i++) {
      if (b[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, b.subarray(start, start + n) as never);
  }
  try {
    return strictUtf8.decode(b.subarray(start, start + n));
  } catch {
    throw new ProtocolError("Malformed data batch: invalid UTF-8");
  }
}

/** True when two string lists are equal (paths are usually the same shared array). */
function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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

/**
 * Id bytes a reader decodes per frame beyond the frame's own length. Ids are
 * sent as the bytes they share with the previous one plus the rest, so a few
 * bytes can stand for a long id: without a budget one 4 MiB frame of
 * definitions of a long id made a hop decode gigabytes. Writers cut their
 * frames at half of it ({@link idBytesPerFrame}).
 */
export const idDecodeBudget = 1024 * 1024;

/** Id bytes a writer puts into one frame at most (see {@link idDecodeBudget}). */
export const idBytesPerFrame = idDecodeBudget / 2;

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
  #b: Uint8Array = new Uint8Array(0);
  #v: DataView = new DataView(this.#b.buffer);
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

  constructor(limits: ReadLimits) {
    this.#limits = limits;
  }

  /** Reads one frame body, handing each record to `visitor`. */
  read(body: Uint8Array, visitor: DataVisitor): void {
    this.#b = body;
    this.#v = new DataView(body.buffer, body.byteOffset, body.byteLength);
    this.#at = 0;
    this.#prevIdLength = 0;
    this.#prevIdText = "";
    this.#lastHops = null;
    this.#budget = idDecodeBudget + body.length;
    const b = this.#b;
    while (this.#at < b.length) {
      const kind = b[this.#at++];
      const index = this.#varuint();
      if (kind === Rec.State) {
        this.#need(1);
        const tag = b[this.#at++]!;
        const value = this.#value(tag & ~causeFlag);
        this.#need(12);
        const status = this.#v.getUint32(this.#at);
        const time = this.#v.getFloat64(this.#at + 4);
        this.#at += 12;
        let cause: FailureCause | null = null;
        if (tag & causeFlag) {
          const max = this.#limits.maxId;
          const hop = this.#str(max), via = this.#str(max);
          this.#need(8);
          const since = this.#v.getFloat64(this.#at);
          this.#at += 8;
          cause = { hop, via, since, reason: this.#str(max) };
        }
        visitor.state(index, value, status, time, cause);
      } else if (kind === Rec.Definition) {
        const id = this.#id();
        this.#need(1);
        const type = typeByCode[b[this.#at++]!];
        if (type === undefined) throw new ProtocolError("Malformed point definition: unknown type");
        visitor.definition(index, id, type, this.#hops());
      } else if (kind === Rec.Removal) {
        visitor.removal(index);
      } else throw new ProtocolError(`Malformed data batch: record kind ${kind}`);
    }
  }

  #need(n: number): void {
    if (this.#at + n > this.#b.length) throw new ProtocolError("Malformed data batch: truncated");
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
    const id = this.#prevId;
    id.set(this.#b.subarray(at, at + n), shared);
    this.#prevIdLength = length;
    this.#prevIdText = decodeUtf8(id, 0, length);
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
    const b = this.#b;
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
    return decodeUtf8(this.#b, this.#take(n), n);
  }

  /** A state's value; one larger than --max-value is skipped and read as {@link tooLarge}. */
  #value(tag: number): Value | typeof tooLarge {
    const from = this.#at;
    this.#skipped = false;
    const v = this.#scalarOrArray(tag);
    return this.#skipped || this.#at - from > this.#limits.maxValue ? tooLarge : v;
  }

  #scalarOrArray(tag: number): Value {
    const v = this.#v;
    switch (tag) {
      case Tag.F64:
        return v.getFloat64(this.#take(8));
      case Tag.I32:
        return v.getInt32(this.#take(4));
      case Tag.True:
        return true;
      case Tag.False:
        return false;
      case Tag.Null:
        return null;
      case Tag.Str: {
        const n = this.#varuint();
        const at = this.#take(n);
        if (n <= this.#limits.maxValue) return decodeUtf8(this.#b, at, n);
        // Skipped undecoded (also as an array element): the value reads as tooLarge.
        this.#skipped = true;
        return "";
      }
      case Tag.I64:
        return v.getBigInt64(this.#take(8));
      case Tag.U64:
        return v.getBigUint64(this.#take(8));
      case Tag.Date:
        return new Date(v.getFloat64(this.#take(8)));
      case Tag.Bytes: {
        const n = this.#varuint();
        const at = this.#take(n);
        return this.#b.subarray(at, at + n);
      }
      case Tag.Array: {
        const n = this.#varuint();
        this.#need(n);
        const out: Scalar[] = [];
        for (let i = 0; i < n; i++) {
          this.#need(1);
          const x = this.#scalarOrArray(this.#b[this.#at++]!);
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
