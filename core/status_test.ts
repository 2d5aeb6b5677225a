import { deepStrictEqual as assertEquals } from "node:assert";
import {
  isBad,
  isGood,
  isUncertain,
  severity,
  Status,
  statusByName,
  statusName,
} from "./status.ts";

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
  assertEquals(statusName(0x80fe0000), "0x80FE0000");
});

Deno.test("every OPC UA status code has its name, with or without info bits; unknown codes print as hex", () => {
  assertEquals(statusName(0x808c0000), "BadSensorFailure");
  assertEquals(statusName(0x808c0400), "BadSensorFailure");
  assertEquals(statusName(0x002d0000), "GoodSubscriptionTransferred");
  assertEquals(statusName(0x80ab0000), "BadInvalidArgument");
  assertEquals(statusName(0x80ff0000), "0x80FF0000");
  assertEquals(statusByName("BadSensorFailure"), 0x808c0000);
});
