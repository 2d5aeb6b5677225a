import { deepStrictEqual as assertEquals } from "node:assert";
import { isBad, isGood, isUncertain, severity, Status, statusName } from "./status.ts";

Deno.test("severity comes from the top two bits of the status code", () => {
  assertEquals(severity(Status.Good), "good");
  assertEquals(severity(Status.UncertainNoCommunicationLastUsableValue), "uncertain");
  assertEquals(severity(Status.BadNoCommunication), "bad");
  assertEquals(severity(0xc0000000), "bad");
  assertEquals([isGood(0), isUncertain(0x40000000), isBad(0x80320000)], [true, true, true]);
});

Deno.test("status names are OPC UA names, or hex for unknown codes", () => {
  assertEquals(statusName(0x80310000), "BadNoCommunication");
  assertEquals(statusName(0x80310400), "BadNoCommunication");
  assertEquals(statusName(0x80ab0000), "0x80AB0000");
});
