/** Control frames: round trips, malformed bodies, and write values typed as they are read. */
import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert";
import { FrameReader, FrameType, ProtocolError, protocolVersion } from "./frames.ts";
import { decodeFrame, encodeFrame, type Frame, helloFrame, writeFrame } from "./control_frames.ts";

/** Decodes every frame in `bytes`. */
function frames(bytes: Uint8Array, max = 1 << 20): Frame[] {
  return new FrameReader(max).push(bytes).map(([t, b]) => decodeFrame(t, b));
}

/** Decodes one encoded frame. */
function decoded(frame: Uint8Array): Frame {
  return decodeFrame(frame[4]!, frame.subarray(5));
}

Deno.test("hello and write frames round-trip", () => {
  const bytes = new Uint8Array([
    ...helloFrame({ version: protocolVersion, hop: "plant1", to: "dmz", direction: "push" }),
    ...writeFrame({ rid: 9, id: "plant1/a", type: "UInt64", value: 2n ** 64n - 2n, via: ["it"] }),
  ]);
  const [h, w] = frames(bytes);
  assertEquals(h, {
    type: FrameType.Hello,
    hello: { version: protocolVersion, hop: "plant1", to: "dmz", direction: "push" },
  });
  assertEquals(w, {
    type: FrameType.Write,
    write: { rid: 9, id: "plant1/a", type: "UInt64", value: 2n ** 64n - 2n, via: ["it"] },
  });
});

Deno.test("a write request's value arrives as the type the requester declared", () => {
  // MessagePack sends a small 64-bit integer as a plain number.
  const small = decoded(encodeFrame(FrameType.Write, [1, "plant1/a", "Int64", 5, []]));
  assertEquals(small.type === FrameType.Write && small.write.value, 5n);
  const bytes = decoded(
    writeFrame({
      rid: 2,
      id: "plant1/b",
      type: "ByteString",
      value: new Uint8Array([1, 2]),
      via: [],
    }),
  );
  assertEquals(bytes.type === FrameType.Write && bytes.write.value, new Uint8Array([1, 2]));
});

Deno.test("malformed frames are protocol errors, not crashes", () => {
  assertThrows(() => decodeFrame(FrameType.Hello, new Uint8Array([0xc1])), ProtocolError);
  assertThrows(() => decodeFrame(77, new Uint8Array([0x01])), ProtocolError);
  assertThrows(
    () => decodeFrame(FrameType.Hello, encodeFrame(FrameType.Hello, [1, 2]).slice(5)),
    ProtocolError,
  );
  // A write request whose value does not fit the type it declares.
  assertThrows(
    () => decoded(writeFrame({ rid: 1, id: "plant1/a", type: "Int64", value: "12", via: [] })),
    ProtocolError,
  );
  assertThrows(
    () => decoded(writeFrame({ rid: 1, id: "plant1/a", type: "Double[]", value: 3, via: [] })),
    /not an array/,
  );
});
