/**
 * Bounded property-based fuzzing of the frame decoder: any bytes, valid
 * data and control frames round-tripped (under any limits), and mutated valid frames (the
 * properties live in _fuzz_props.ts; tests/fuzz/run.ts runs them at length).
 * A failure prints its seed and path; HOPGATE_FUZZ_SEED and
 * HOPGATE_FUZZ_PATH replay it, HOPGATE_FUZZ_RUNS runs more.
 */
import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert";
import type { Value } from "../core/mod.ts";
import { FrameReader, FrameType, ProtocolError } from "./frames.ts";
import { decodeFrame, writeFrame } from "./control_frames.ts";
import { readDataFrame, tooLarge } from "./data_frame_reader.ts";
import { assertFuzz, fuzzProperties } from "./_fuzz_props.ts";

const file = "tunnel/frame_codec_fuzz_test.ts";

for (const p of fuzzProperties.filter((p) => p.group === "codec")) {
  Deno.test(`fuzz: ${p.name}`, () => assertFuzz(p, file));
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

// Regression tests for the bugs the properties found, with their minimal counterexamples. Those
// still open are ignored (see knownBugs in _fuzz_props.ts): once fixed, drop `ignore` and the
// entry in knownBugs, and the properties check the case again.

Deno.test({
  name:
    `regression (fuzz): a Close body that is a map {toString: 0} is a ProtocolError, not a TypeError`,
  fn() {
    // Close (type 9) whose MessagePack body is the map {toString: 0}.
    const frame = fromHex("0000000e09de0001a8746f537472696e6700");
    const [[type, body]] = new FrameReader(1024).push(frame) as [[number, Uint8Array]];
    try {
      const f = decodeFrame(type, body);
      assertEquals(f.type, 9);
    } catch (e) {
      assert(e instanceof ProtocolError, `${(e as Error).name}: ${(e as Error).message}`);
    }
  },
});

Deno.test({
  name: `regression (fuzz): a String[] with an element over maxValue reads as tooLarge`,
  fn() {
    // One state: index 0, value ["\u0000"] (tag 10, one Str element of 1 byte), status 0, time 0.
    const frame = fromHex("000000140302000a01070100000000000000000000000000");
    const values: (Value | typeof tooLarge)[] = [];
    readDataFrame(frame.subarray(5), {
      definition: () => {},
      state: (_i, value) => values.push(value),
      removal: () => {},
    }, { maxId: 1024, maxHops: 16, maxValue: 0 });
    assertEquals(values, [tooLarge]);
  },
});

Deno.test({
  name: "regression (fuzz): a leading U+FEFF survives in ids, String values and cause texts",
  fn() {
    // Definition 0: id "\uFEFFplant1/a" (String, via plant1); state 0: value "\uFEFFtext", cause
    // {hop: "\uFEFFh", via: "v", since: 0, reason: "r"}.
    const frame = fromHex(
      "00000041030100000befbbbf706c616e74312f610b0106706c616e743102008707efbbbf74657874000000000000" +
        "00000000000004efbbbf68017600000000000000000172",
    );
    const got: unknown[] = [];
    readDataFrame(frame.subarray(5), {
      definition: (_i, id) => got.push(id),
      state: (_i, value, _s, _t, cause) => got.push(value, cause?.hop),
      removal: () => {},
    });
    assertEquals(got, ["\uFEFFplant1/a", "\uFEFFtext", "\uFEFFh"]);
  },
});

Deno.test("a control frame whose text starts with U+FEFF is refused, never delivered without it (msgpackr drops it from texts of 65 bytes or more)", () => {
  // Close whose reason is "\uFEFF" and 62 "x" (65 UTF-8 bytes).
  const close = fromHex(
    "0000004409d941efbbbf7878787878787878787878787878787878787878787878787878787878787878787878" +
      "787878787878787878787878787878787878787878787878787878",
  );
  assertThrows(() => decodeFrame(close[4]!, close.subarray(5)), ProtocolError);
  // A write request for "\uFEFFplant1/pp…" must not arrive for "plant1/pp…", another point.
  const id = `\uFEFFplant1/${"p".repeat(60)}`;
  const write = writeFrame({ rid: 1, id, type: "String", value: "v", via: [] });
  assertThrows(() => decodeFrame(write[4]!, write.subarray(5)), ProtocolError);
  // A short text keeps its U+FEFF (msgpackr decodes it itself), and U+FEFF inside a text is fine.
  const short = writeFrame({
    rid: 2,
    id: "\uFEFFplant1/a",
    type: "String",
    value: "a\uFEFFb",
    via: [],
  });
  const f = decodeFrame(short[4]!, short.subarray(5));
  assert(f.type === FrameType.Write);
  assertEquals([f.write.id, f.write.value], ["\uFEFFplant1/a", "a\uFEFFb"]);
});
