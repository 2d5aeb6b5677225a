/**
 * The tunnel's control frames (hello, snapshot bounds, heartbeats,
 * acknowledgements, writes and their results, close): rare and small, so
 * their bodies are MessagePack, checked field by field as they are decoded.
 * Data frames, the hot path, have their own layout (data_frame_writer.ts).
 */
// The pure-JS entry: the default one probes an environment variable and a native addon,
// which a hop's sandbox does not grant.
import { Packr } from "msgpackr/pack";
import {
  type DataType,
  elementType,
  hopNamePattern,
  isArrayType,
  isDataType,
  type Scalar,
  type Value,
} from "../core/mod.ts";
import { FrameType, type FrameTypeCode, headerSize, ProtocolError } from "./frames.ts";

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

/** A write request on the wire. */
export interface WriteFrame {
  rid: number;
  id: string;
  type: DataType;
  value: Value;
  via: string[];
}

/** A decoded frame; a data frame's body is left to the data-frame reader. */
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
  | { type: typeof FrameType.Close; reason: string }
  | { type: typeof FrameType.OriginComplete; origin: string };

const packr = new Packr({
  useRecords: false,
  int64AsType: "bigint",
  mapsAsObjects: true,
  moreTypes: false,
});

/** Encodes one frame with a MessagePack body (tests also use it to craft what a peer could send). */
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

/**
 * Encodes "every point of `origin` this hop holds has been sent": the
 * receiver may remove the points of that origin it still holds from this
 * link and the sender no longer has (see docs/tunnel-protocol.md).
 */
export function originCompleteFrame(origin: string): Uint8Array {
  return encodeFrame(FrameType.OriginComplete, origin);
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

/** True when `b` holds the UTF-8 bytes of U+FEFF (EF BB BF) anywhere. */
function hasFeffBytes(b: Uint8Array): boolean {
  for (let i = b.indexOf(0xef); i >= 0 && i + 2 < b.length; i = b.indexOf(0xef, i + 1)) {
    if (b[i + 1] === 0xbb && b[i + 2] === 0xbf) return true;
  }
  return false;
}

/**
 * Decodes one frame body; throws {@link ProtocolError} on anything malformed.
 * A data frame's body is returned as is, for the data-frame reader.
 */
export function decodeFrame(type: number, body: Uint8Array): Frame {
  if (type === FrameType.Data) return { type, body };
  let v: unknown;
  try {
    v = packr.unpack(body);
  } catch (e) {
    throw new ProtocolError(`Undecodable frame body: ${(e as Error).message}`);
  }
  // msgpackr decodes a string of 65 UTF-8 bytes or more with a TextDecoder, which drops a leading
  // U+FEFF: a write for "\uFEFFplant1/…" would arrive for "plant1/…", another point. A body that
  // holds U+FEFF's bytes must encode back to its own length, or a text lost its first character.
  if (hasFeffBytes(body) && (packr.pack(v) as Uint8Array).length !== body.length) {
    throw new ProtocolError(
      "Malformed frame: a text in it starts with U+FEFF, which control frames cannot carry",
    );
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
          value: requestedValue(a[2], a[3]),
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
    case FrameType.OriginComplete:
      if (typeof v !== "string" || !hopNamePattern.test(v)) {
        throw new ProtocolError("Malformed origin-complete frame: no hop name");
      }
      return { type, origin: v };
  }
  throw new ProtocolError(`Unknown frame type ${type}`);
}

/**
 * A write request's value as the type the requester declared, typed here,
 * where it is read: MessagePack sends small 64-bit integers as plain numbers
 * and bytes come back as Buffers. Ranges are the written hop's to check,
 * against the point it holds.
 */
function requestedValue(type: DataType, raw: unknown): Value {
  if (raw === null || raw === undefined) return null;
  const base = elementType(type);
  if (isArrayType(type)) {
    if (!Array.isArray(raw)) throw new ProtocolError(`${type} value is not an array`);
    return raw.map((x) => requestedScalar(base, x));
  }
  return requestedScalar(base, raw);
}

function requestedScalar(type: DataType, raw: unknown): Scalar {
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
