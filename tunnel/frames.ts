/**
 * What every tunnel frame shares: a u32 length, a type byte and a body, cut
 * out of the byte stream before anything decodes them, so a peer's claimed
 * length is judged before its bytes are kept. Control frames
 * (control_frames.ts) and data frames (data_frame_writer.ts,
 * data_frame_reader.ts) define the bodies. See docs/tunnel-protocol.md.
 */

/** The protocol version sent in hello; a peer with another version is refused. */
export const protocolVersion = 4;

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
  OriginComplete: 11,
} as const;

/** One of {@link FrameType}'s values. */
export type FrameTypeCode = typeof FrameType[keyof typeof FrameType];

/** A frame the peer sent that breaks the protocol; the link closes with its message. */
export class ProtocolError extends Error {
  /** Names the error class in messages and logs. */
  override name = "ProtocolError";
}

/**
 * A well-formed frame that breaks this hop's rules for the peer (its role,
 * its origins, a limit); the link closes with the rule named.
 */
export class RuleError extends ProtocolError {
  override name = "RuleError";
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
