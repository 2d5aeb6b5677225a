/**
 * The tunnel's wire format: length-prefixed frames whose body is MessagePack.
 * Deltas name points by a per-link numeric index defined once, so the hot path
 * never re-encodes id strings. See docs/tunnel-protocol.md for the layouts.
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
  type Value,
} from "../core/mod.ts";

/** The protocol version sent in hello; a peer with another version is refused. */
export const protocolVersion = 1;

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
  | { type: typeof FrameType.Data; batch: RawBatch }
  | { type: typeof FrameType.SnapshotEnd; count: number }
  | { type: typeof FrameType.Ping; t: number }
  | { type: typeof FrameType.Pong; t: number }
  | { type: typeof FrameType.Write; write: WriteFrame }
  | { type: typeof FrameType.WriteResult; rid: number; status: number }
  | { type: typeof FrameType.Close; reason: string };

/**
 * A data batch as decoded: flat arrays, because values can only be typed
 * once the receiver looks up each index's definition.
 */
export interface RawBatch {
  /** `[index, id, type, hops]` repeated. */
  defs: unknown[];
  /** `[index, value, status, time, cause]` repeated; cause is `null` or `[hop, via, since, reason]`. */
  states: unknown[];
  removed: unknown[];
}

/** A frame the peer sent that breaks the protocol; the link closes with its message. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
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

/** Encodes a data batch. */
export function dataFrame(batch: DataBatch): Uint8Array {
  const raw: RawBatch = { defs: [], states: [], removed: batch.removed };
  for (const d of batch.defs) pushDefinition(raw, d.index, d.id, d.type, d.hops);
  for (const s of batch.states) pushState(raw, s.index, s.value, s.status, s.time, s.cause);
  return rawDataFrame(raw);
}

/** Appends a definition to a batch being built (the link's hot path builds flat arrays directly). */
export function pushDefinition(
  b: RawBatch,
  index: number,
  id: string,
  type: DataType,
  hops: string[],
): void {
  b.defs.push(index, id, type, hops);
}

/** Appends a state to a batch being built. */
export function pushState(
  b: RawBatch,
  index: number,
  value: Value,
  status: number,
  time: number,
  c: FailureCause | null,
): void {
  b.states.push(index, value, status, time, c === null ? null : [c.hop, c.via, c.since, c.reason]);
}

/** Encodes a batch built with {@link pushDefinition} and {@link pushState}. */
export function rawDataFrame(b: RawBatch): Uint8Array {
  return encodeFrame(FrameType.Data, [b.defs, b.states, b.removed]);
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
    | typeof FrameType.Close,
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

/** Decodes one frame body; throws {@link ProtocolError} on anything malformed. */
export function decodeFrame(type: number, body: Uint8Array): Frame {
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
    case FrameType.Data: {
      const a = v as unknown[];
      if (
        !Array.isArray(a) || !Array.isArray(a[0]) || !Array.isArray(a[1]) || !Array.isArray(a[2])
      ) throw new ProtocolError("Malformed data batch");
      return { type, batch: { defs: a[0], states: a[1], removed: a[2] } };
    }
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
    case FrameType.Close:
      return { type, reason: String(v).slice(0, 500) };
  }
  throw new ProtocolError(`Unknown frame type ${type}`);
}

/** Decodes a definition entry of a raw batch at offset `i`. */
export function definitionAt(defs: unknown[], i: number): PointDefinition {
  const index = defs[i], id = defs[i + 1], type = defs[i + 2], hops = defs[i + 3];
  if (
    typeof index !== "number" || !Number.isInteger(index) || index < 0 ||
    typeof id !== "string" || typeof type !== "string" || !isDataType(type) ||
    !isStringArray(hops)
  ) throw new ProtocolError("Malformed point definition");
  return { index, id, type, hops };
}

/** Decodes a failure cause as sent in a state entry. */
export function causeOf(raw: unknown): FailureCause | null {
  if (raw === null || raw === undefined) return null;
  const a = raw as unknown[];
  if (
    !Array.isArray(a) || typeof a[0] !== "string" || typeof a[1] !== "string" ||
    typeof a[2] !== "number" || typeof a[3] !== "string"
  ) throw new ProtocolError("Malformed failure cause");
  return { hop: a[0], via: a[1], since: a[2], reason: a[3] };
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
