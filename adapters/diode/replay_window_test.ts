import { deepStrictEqual as assertEquals } from "node:assert";
import { ReplayWindow, windowSize } from "./replay_window.ts";
import { parityOf, repair } from "./xor_parity.ts";

Deno.test("replay window refuses a packet seen, one of an earlier epoch and one too old", () => {
  const w = new ReplayWindow();
  assertEquals(w.check(5, 0), "fresh");
  w.take(5, 0);
  assertEquals(w.check(5, 0), "replayed");
  w.take(5, 3);
  assertEquals([w.check(5, 1), w.check(5, 2), w.check(5, 3)], ["fresh", "fresh", "replayed"]);
  w.take(5, 1);
  assertEquals(w.check(5, 1), "replayed");
  w.take(5, 3 + windowSize);
  assertEquals(w.check(5, 2), "too-old");
  assertEquals(w.check(5, 2 + windowSize), "fresh");
  assertEquals(w.check(4, 99_999), "earlier-epoch");
  assertEquals(w.take(6, 0), true);
  assertEquals(w.check(5, 10), "earlier-epoch");
  assertEquals(w.check(6, 0), "replayed");
});

Deno.test("a replay window started at a kept epoch refuses earlier epochs and takes that one's packets", () => {
  const w = new ReplayWindow();
  w.startAt(9);
  assertEquals([w.check(8, 5), w.check(9, 0), w.check(10, 0)], ["earlier-epoch", "fresh", "fresh"]);
  assertEquals(w.take(9, 0), false);
});

Deno.test("xor parity repairs any one missing packet of a group of unequal lengths", () => {
  const group = [
    new Uint8Array([1, 2, 3]),
    new Uint8Array([9]),
    new Uint8Array([7, 7, 7, 7, 7]),
    new Uint8Array([]),
  ];
  const parity = parityOf(group);
  for (let lost = 0; lost < group.length; lost++) {
    const others = group.filter((_, i) => i !== lost);
    assertEquals([...repair(parity, others)!], [...group[lost]!]);
  }
});
