/**
 * The time a PLC gives a change is the time the hop keeps; a change that
 * comes without one is stamped with the hop's clock on arrival
 * (docs/operations.md). The fast PLC stamps its changes an hour in the past,
 * then sends none; the values' age, read through the hop's own OPC UA server,
 * tells which time the hop kept.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { checkPlcValues } from "./bench/opcua_ingest.ts";

const hour = 3_600_000;

Deno.test("a PLC's source timestamps are kept, and changes without one are stamped on arrival", async () => {
  const old = await checkPlcValues(300, -hour);
  assertEquals(old.wrong, []);
  assert(old.ageMs.min >= hour - 1_000 && old.ageMs.max < hour + 60_000, JSON.stringify(old.ageMs));
  const none = await checkPlcValues(300, "none");
  assertEquals(none.wrong, []);
  assert(none.ageMs.min >= -1_000 && none.ageMs.max < 60_000, JSON.stringify(none.ageMs));
});
