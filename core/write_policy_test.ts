import { deepStrictEqual as assertEquals } from "node:assert";
import { writePolicy } from "./write_policy.ts";

Deno.test("nothing is writable by default", () => {
  assertEquals(writePolicy([])("plant1/plc1/x"), false);
});

Deno.test("write patterns match within a segment with * and across with **", () => {
  const allowed = writePolicy(["plant1/plc1/Line2/*", "plant1/sim/**"]);
  assertEquals(allowed("plant1/plc1/Line2/Setpoint"), true);
  assertEquals(allowed("plant1/plc1/Line2/Pump/Speed"), false);
  assertEquals(allowed("plant1/sim/double/3"), true);
  assertEquals(allowed("plant1/plc1/Line3/Setpoint"), false);
});
