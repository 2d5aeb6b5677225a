/** The frame reader: frames split anywhere, and lengths judged before bytes are kept. */
import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert";
import { FrameReader, FrameType, ProtocolError } from "./frames.ts";
import { encodeFrame } from "./control_frames.ts";

Deno.test("the frame reader reassembles frames split at every byte", () => {
  const one = encodeFrame(FrameType.Ping, 123);
  const two = encodeFrame(FrameType.Close, "bye");
  const all = new Uint8Array([...one, ...two, ...one]);
  for (let cut = 0; cut <= all.length; cut++) {
    const r = new FrameReader(1024);
    const got = [...r.push(all.slice(0, cut)), ...r.push(all.slice(cut))];
    assertEquals(got.map(([t]) => t), [FrameType.Ping, FrameType.Close, FrameType.Ping]);
    assertEquals(r.buffered, 0);
  }
});

Deno.test("the frame reader refuses a frame claiming more than the limit before buffering it", () => {
  const r = new FrameReader(1000);
  const header = new Uint8Array([0x7f, 0xff, 0xff, 0xff, FrameType.Data]);
  assertThrows(() => r.push(header), /exceeds --max-frame/);
  assert(r.buffered < 16);
});

Deno.test("an empty frame is a protocol error", () => {
  assertThrows(() => new FrameReader(10).push(new Uint8Array([0, 0, 0, 0])), ProtocolError);
});
