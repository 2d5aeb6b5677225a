/**
 * Bounded property-based fuzzing of the store's apply path through a
 * listener-side link receiving a push: arbitrary frame sequences cut at
 * arbitrary boundaries, and every kind of invalid value, status and time
 * (the properties live in _fuzz_props.ts; tests/fuzz/run.ts runs them at
 * length). A failure prints its seed and path; HOPGATE_FUZZ_SEED and
 * HOPGATE_FUZZ_PATH replay it, HOPGATE_FUZZ_RUNS runs more.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import {
  logger,
  ManualClock,
  originHop,
  PointStore,
  Status,
  type StatusCode,
} from "../core/mod.ts";
import { helloFrame } from "./control_frames.ts";
import { protocolVersion } from "./frames.ts";
import { Link, type LinkLimits, type Wire } from "./link.ts";
import { assertFuzz, fuzzProperties } from "./_fuzz_props.ts";
import { DataFrameWriter } from "./data_frame_writer.ts";

const file = "tunnel/link_fuzz_test.ts";

for (const p of fuzzProperties.filter((p) => p.group === "link")) {
  Deno.test(`fuzz: ${p.name}`, () => assertFuzz(p, file));
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/** A wire that drops what the link writes. */
const nullWire: Wire = { write: () => true, buffered: () => 0, close: () => {} };

/** A listener-side link on hop `dmz` that `plant1` has said hello to (direction push). */
function listening(limits?: LinkLimits) {
  const store = new PointStore("dmz");
  const link = new Link(nullWire, {
    hop: "dmz",
    peer: "plant1",
    role: "listener",
    store,
    clock: new ManualClock(),
    log: logger("test"),
    heartbeat: 1000,
    timeout: 5000,
    maxFrame: 1 << 20,
    writeTimeout: 1000,
    ...(limits !== undefined ? { limits } : {}),
    onWrite: () => Promise.resolve(Status.BadNotWritable as StatusCode),
  });
  link.start();
  link.receive(
    helloFrame({ version: protocolVersion, hop: "plant1", to: "dmz", direction: "push" }),
  );
  assertEquals(link.state, "open");
  return { store, link };
}

// Regression tests for the bugs the properties found, with their minimal counterexamples.

Deno.test({
  name:
    `regression (fuzz): a path ["o\\0q", peer] after ["o", "q", peer] is still checked for hop names`,
  fn() {
    const { store, link } = listening();
    // Definition 0: "o/a" via o>q>plant1. Then definition 1: "o\0q/b" via "o\0q">plant1, state 1.
    link.receive(fromHex("0000001503010000036f2f610a03016f017106706c616e7431"));
    link.receive(
      fromHex(
        "0000002a03010100056f00712f620a02036f007106706c616e743102010400000001000000000000000000000000",
      ),
    );
    for (const p of store.values()) {
      assertEquals(p.hops[0], originHop(p.id), `${JSON.stringify(p.id)} via ${p.hops}`);
    }
    assert(link.state === "closed" && link.closeReason.startsWith("protocol error:"));
  },
});

Deno.test({
  name:
    `regression (fuzz): definitions spread over frames, then their states, stay within --max-points`,
  fn() {
    const { store, link } = listening({
      maxPoints: 2,
      maxLinkPoints: 100,
      maxId: 1024,
      maxHops: 16,
      maxValue: 1024,
    });
    // Frame 1 defines plant1/0 and plant1/1, frame 2 plant1/2 and plant1/3 (no states: the
    // store stays empty, so each passes), frame 3 states all four.
    for (
      const hex of [
        "0000001d0301000008706c616e74312f300a0106706c616e743101010701310a41",
        "0000001d0301020008706c616e74312f320a0106706c616e743101030701330a41",
        "0000004d0302000400000000000000000000000000000000020104000000010000000000000000000000000202" +
        "040000000200000000000000000000000002030400000003000000000000000000000000",
      ]
    ) link.receive(fromHex(hex));
    assert(store.size <= 2, `the store holds ${store.size} points, --max-points is 2`);
  },
});

Deno.test("a point at the highest index a peer may use costs the receiver no entry per index below it", () => {
  const { store, link } = listening();
  const w = new DataFrameWriter();
  const far = 2 ** 31 - 1;
  w.definition(far, "plant1/far", "Double", ["plant1"]);
  w.state(far, 1.5, Status.Good, 1000, null);
  w.state(far, 2.5, Status.Good, 1001, null);
  const t0 = performance.now();
  link.receive(w.finish());
  // Filling per-index arrays up to 2^31 would take seconds and gigabytes, not a millisecond.
  assert(performance.now() - t0 < 1000, `${performance.now() - t0} ms`);
  assertEquals([link.state, store.get("plant1/far")?.value], ["open", 2.5]);
});
