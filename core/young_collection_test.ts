import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert";
import { YoungCollections } from "./young_collection.ts";

Deno.test("young collections run once per `every` units of work counted, whatever the batch sizes", () => {
  const asked: string[] = [];
  const young = new YoungCollections(1_000, (o) => asked.push(o.type));
  young.count(400);
  young.count(599);
  assertEquals(asked, [], "999 units: not yet");
  young.count(1);
  assertEquals(asked, ["minor"]);
  young.count(2_500);
  young.count(999);
  assertEquals(
    asked,
    ["minor", "minor"],
    "a big batch is one collection, and counting starts again",
  );
  young.count(1);
  assertEquals(young.runs, 3);
});

Deno.test("young collections do nothing without an exposed gc, and refuse a pace that is not positive", () => {
  const young = new YoungCollections(10, null);
  young.count(1_000);
  assertEquals(young.runs, 0);
  assertThrows(() => new YoungCollections(0), /positive number/);
  assertThrows(() => new YoungCollections(NaN), /positive number/);
});
