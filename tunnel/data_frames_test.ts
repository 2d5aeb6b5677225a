/**
 * Data frames written by DataFrameWriter and read by readDataFrame: every
 * value type exactly, corruption anywhere, and the id and path sharing
 * within a frame.
 */
import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert";
import { type DataType, type FailureCause, fitValue, type Value } from "../core/mod.ts";
import { FrameReader, FrameType, ProtocolError } from "./frames.ts";
import { decodeFrame, type Frame } from "./control_frames.ts";
import { DataFrameWriter } from "./data_frame_writer.ts";
import { DataReader, defaultReadLimits, readDataFrame, tooLarge } from "./data_frame_reader.ts";

/** A point's identity on one link, as a definition record carries it. */
interface PointDefinition {
  index: number;
  id: string;
  type: DataType;
  hops: string[];
}

/** A point's state on one link, as a state record carries it. */
interface PointState {
  index: number;
  value: Value;
  status: number;
  time: number;
  cause: FailureCause | null;
}

/** A batch of changes: definitions first, then states, then removals. */
interface DataBatch {
  defs: PointDefinition[];
  states: PointState[];
  removed: number[];
}

/** Encodes a data batch as one frame, header included. */
function dataFrame(batch: DataBatch): Uint8Array {
  const w = new DataFrameWriter();
  for (const d of batch.defs) w.definition(d.index, d.id, d.type, d.hops);
  for (const s of batch.states) w.state(s.index, s.value, s.status, s.time, s.cause);
  for (const r of batch.removed) w.removal(r);
  return w.finish();
}

/** Every record of a data frame body, in order. */
function records(body: Uint8Array) {
  const defs: PointDefinition[] = [];
  const states: {
    index: number;
    value: Value | typeof tooLarge;
    status: number;
    time: number;
    cause: FailureCause | null;
  }[] = [];
  const removed: number[] = [];
  readDataFrame(body, {
    definition: (index, id, type, hops) => defs.push({ index, id, type, hops }),
    state: (index, value, status, time, cause) =>
      states.push({ index, value, status, time, cause }),
    removal: (index) => removed.push(index),
  });
  return { defs, states, removed };
}

/** Decodes every frame in `bytes`. */
function frames(bytes: Uint8Array, max = 1 << 20): Frame[] {
  return new FrameReader(max).push(bytes).map(([t, b]) => decodeFrame(t, b));
}

const samples: [DataType, Value][] = [
  ["Int64", (1n << 62n) + 12345n],
  ["Int64", -(2n ** 63n)],
  ["Int64", 7n],
  ["UInt64", 2n ** 64n - 1n],
  ["UInt64", (1n << 53n) + 1n],
  ["UInt64", 0n],
  ["Double", 0.1 + 0.2],
  ["Double", NaN],
  ["Float", 1.5],
  ["Int32", -2147483648],
  ["UInt32", 4294967295],
  ["Boolean", false],
  ["String", "Grüße ✓"],
  ["DateTime", new Date(1_700_000_000_123)],
  ["ByteString", new Uint8Array([0, 1, 254, 255])],
  ["Int64[]", [1n, (1n << 60n) + 3n, -5n]],
  ["Double[]", [1.25, -3, 1e300, -Infinity]],
  ["String[]", []],
  ["ByteString[]", [new Uint8Array([9]), new Uint8Array(0)]],
  ["Double", null],
];

Deno.test("data frames round-trip every value type exactly, including 64-bit integers beyond 2^53", () => {
  const batch = {
    defs: samples.map(([type], i) => ({ index: i, id: `p/x/${i}`, type, hops: ["p", "q"] })),
    states: samples.map(([, value], i) => ({
      index: i,
      value,
      status: i === 3 ? 0x808a0000 : 0,
      time: 1_700_000_000_000 + i,
      cause: i === 3 ? { hop: "q", via: "link:p", since: 17, reason: "connection reset" } : null,
    })),
    removed: [42],
  };
  const [f] = frames(dataFrame(batch));
  assert(f && f.type === FrameType.Data);
  const got = records(f.body);
  assertEquals(got.defs, batch.defs);
  for (let i = 0; i < samples.length; i++) {
    const [type, value] = samples[i]!;
    // Typed by the point's declared type, as the receiving link does.
    const raw = got.states[i]!.value;
    assert(raw !== tooLarge, `${type} read as too large`);
    const typed = fitValue(type, raw);
    assertEquals(typed, value, `${type} ${String(value)}`);
    if (typeof value === "bigint") assert(typeof typed === "bigint");
    if (value instanceof Uint8Array) assert(typed instanceof Uint8Array);
    if (typeof value === "number" && value === 0) assert(Object.is(typed, value));
    assertEquals(got.states[i]!.index, i);
    assertEquals(got.states[i]!.status, batch.states[i]!.status);
    assertEquals(got.states[i]!.time, batch.states[i]!.time);
    assertEquals(got.states[i]!.cause, batch.states[i]!.cause);
  }
  assertEquals(got.removed, [42]);
});

Deno.test("a data frame cut short or corrupted anywhere is a protocol error, never a crash", () => {
  const body = dataFrame({
    defs: samples.map(([type], i) => ({ index: i, id: `p/ü/${i}`, type, hops: ["p"] })),
    states: samples.map(([, value], i) => ({
      index: i,
      value,
      status: 0,
      time: i,
      cause: { hop: "q", via: "link:p", since: 1, reason: "r" },
    })),
    removed: [3],
  }).subarray(5);
  for (let cut = 1; cut < body.length; cut++) {
    try {
      records(body.subarray(0, cut));
    } catch (e) {
      assert(e instanceof ProtocolError, `cut at ${cut}: ${e}`);
    }
    const bad = body.slice();
    bad[cut] = 0xff - bad[cut]!;
    try {
      records(bad);
    } catch (e) {
      assert(e instanceof ProtocolError, `byte ${cut} flipped: ${e}`);
    }
  }
  assertThrows(() => records(new Uint8Array([1, 0, 0, 1, 0x78, 99, 0])), /unknown type/);
  // An id sharing bytes with no previous id, and a repeated path with none before it.
  assertThrows(() => records(new Uint8Array([1, 0, 2, 1, 0x78, 0, 0])), /previous id/);
  assertThrows(() => records(new Uint8Array([1, 0, 0, 1, 0x78, 0, 65])), /no previous path/);
});

Deno.test("text is strict UTF-8: a U+FFFD sent as such is kept, malformed bytes are refused", () => {
  // The reader decodes leniently and decodes again strictly only text that came out with a U+FFFD.
  const id = "plant1/\uFFFD/x", hop = "p\uFFFD", text = "\uFFFD";
  const body = dataFrame({
    defs: [{ index: 0, id, type: "String", hops: ["plant1", hop] }],
    states: [{ index: 0, value: text, status: 0, time: 1, cause: null }],
    removed: [],
  }).subarray(5);
  const got = records(body);
  assertEquals(got.defs[0]!.id, id);
  assertEquals(got.defs[0]!.hops, ["plant1", hop]);
  assertEquals(got.states[0]!.value, text);
  // The id's first byte after "plant1/" (0xEF of the U+FFFD) replaced by a lone continuation
  // byte, and a value cut inside its two-byte character: neither decodes to a U+FFFD quietly.
  const at = body.indexOf(0xef);
  const broken = body.slice();
  broken[at] = 0x80;
  assertThrows(() => records(broken), /invalid UTF-8/);
  const twoByte = dataFrame({
    defs: [{ index: 0, id: "a", type: "String", hops: ["a"] }],
    states: [{ index: 0, value: "ä", status: 0, time: 1, cause: null }],
    removed: [],
  }).subarray(5);
  const cut = twoByte.slice();
  cut[cut.indexOf(0xa4)] = 0x41; // "ä" is C3 A4: C3 followed by an ASCII byte
  assertThrows(() => records(cut), /invalid UTF-8/);
});

Deno.test("definitions share id prefixes and repeated paths within a frame, and decode exactly", () => {
  const ids = [
    "plant1/plc1/Line2/Temperature",
    "plant1/plc1/Line2/Pressure",
    "plant1/plc1/Line2/Pressure/Setpoint", // longer than the one before
    "plant1/plc1/Line", // a prefix of the one before
    "plant1/plc1/Grüße/ä", // a multi-byte character right after the shared part
    "plant1/plc1/Grüße/ö", // shares the first byte of a two-byte character
    "plant1/plc1/Grüße/ö", // the same id again (an index redefined)
    "dmz/own",
    "",
    "plant1/x",
    // Ids of up to 32 ASCII bytes are read from their char codes, longer ones by the decoder.
    "plant1/" + "a".repeat(24),
    "plant1/" + "a".repeat(25),
    "plant1/" + "a".repeat(26),
    "plant1/" + "a".repeat(24) + "é", // 33 bytes, the new part beyond ASCII
    "plant1/ctl\u0000\u0001\u007f", // every ASCII byte is its own character
  ];
  const paths = [["plant1"], ["plant1"], ["plant1", "dmz"], ["plant1", "dmz"], ["plant1"]];
  const defs = ids.map((id, i) => ({
    index: i,
    id,
    type: "Double" as DataType,
    hops: [...paths[i % paths.length]!], // equal content, not the same arrays
  }));
  const body = dataFrame({ defs, states: [], removed: [] }).subarray(5);
  assertEquals(records(body).defs, defs);
  // Two frames: the second starts over (nothing shared across frames).
  const [f1, f2] = frames(
    new Uint8Array([
      ...dataFrame({ defs: defs.slice(0, 2), states: [], removed: [] }),
      ...dataFrame({ defs: defs.slice(2), states: [], removed: [] }),
    ]),
  );
  assert(f1?.type === FrameType.Data && f2?.type === FrameType.Data);
  assertEquals([...records(f1.body).defs, ...records(f2.body).defs], defs);

  // The points of one device and route cost their index, the new part of the id and a few bytes.
  const many = Array.from({ length: 1000 }, (_, i) => ({
    index: i,
    id: `plant1/plc1/Line2/Motor${i}/Speed`,
    type: "Double" as DataType,
    hops: ["plant1", "dmz"],
  }));
  const size = dataFrame({ defs: many, states: [], removed: [] }).length;
  assert(size < 1000 * 20, `${size} bytes for 1000 definitions`);
  assertEquals(records(dataFrame({ defs: many, states: [], removed: [] }).subarray(5)).defs, many);
});

Deno.test("a failure cause encoded as the one before it is the same object; any other is read anew", () => {
  const lost = {
    hop: "dmz",
    via: "link:plant1",
    since: 1_700_000_000_000,
    reason: "connection reset",
  };
  const other = [
    { ...lost, reason: "connection reset by peer" },
    { ...lost, since: lost.since + 1 },
    { ...lost, via: "link:plant2" },
  ];
  const causes = [lost, lost, ...other, lost, lost];
  const frame = (from: number) =>
    dataFrame({
      defs: [],
      states: causes.map((cause, i) => ({ index: from + i, value: 1, status: 0, time: 1, cause })),
      removed: [],
    }).subarray(5);
  const reader = new DataReader(defaultReadLimits);
  const got: (FailureCause | null)[] = [];
  const visitor = {
    definition: () => {},
    state: (_i: number, _v: unknown, _s: number, _t: number, c: FailureCause | null) => got.push(c),
    removal: () => {},
  };
  reader.read(frame(0), visitor);
  reader.read(frame(100), visitor); // the next frame starts with the cause the last one ended with
  assertEquals(got, [...causes, ...causes]);
  const same = (i: number, j: number) => got[i] === got[j];
  assert(same(0, 1) && same(5, 6), "repeated causes are one object");
  assert(
    !same(1, 2) && !same(2, 3) && !same(3, 4) && !same(4, 5),
    "a cause differing in any field",
  );
  assert(same(6, 7) && same(7, 8), "across frames of one link");
});
