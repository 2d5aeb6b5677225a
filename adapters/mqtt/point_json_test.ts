import { deepStrictEqual as assertEquals, throws } from "node:assert";
import { type Point, Status } from "../../core/mod.ts";
import { pointFromJson, pointToJson, valueFromJson } from "./point_json.ts";

Deno.test("a point survives its JSON form exactly, 64-bit integers and bytes included", () => {
  const points: Point[] = [
    { id: "p/s/a", value: 2n ** 64n - 1n, type: "UInt64" },
    { id: "p/s/b", value: [-(2n ** 63n)], type: "Int64[]" },
    { id: "p/s/c", value: new Date(1_700_000_000_123), type: "DateTime" },
    { id: "p/s/d", value: new Uint8Array([0, 255]), type: "ByteString" },
    { id: "p/s/e", value: NaN, type: "Double" },
    { id: "p/s/f", value: null, type: "Int32" },
  ].map((p) => ({
    ...p,
    type: p.type as Point["type"],
    status: Status.UncertainNoCommunicationLastUsableValue,
    time: 1_700_000_000_000,
    hops: [],
    cause: { hop: "dmz", via: "link:plant1", since: 1, reason: "heartbeat timeout" },
  }));
  for (const p of points) {
    const j = JSON.parse(JSON.stringify(pointToJson(p)));
    assertEquals(j.status, "UncertainNoCommunicationLastUsableValue");
    assertEquals(pointFromJson(j), p);
  }
});

Deno.test("a JSON value that does not fit the point's type is refused with the reason", () => {
  throws(() => valueFromJson("Int64", 1.5), /Int64 needs an integer/);
  throws(() => valueFromJson("Boolean", "yes"), /Boolean needs true or false/);
  assertEquals(valueFromJson("Int64", "9223372036854775807"), 2n ** 63n - 1n);
});

Deno.test("a time or date that is no date is written as null, and a buffer record of it reads back", () => {
  const base = { status: Status.Good, hops: [], cause: null };
  const points: Point[] = [
    { ...base, id: "p/s/nan-time", value: 1.5, type: "Double", time: NaN },
    { ...base, id: "p/s/inf-time", value: 1.5, type: "Double", time: Infinity },
    { ...base, id: "p/s/bad-date", value: new Date(NaN), type: "DateTime", time: 0 },
    {
      ...base,
      id: "p/s/bad-dates",
      value: [new Date(NaN), new Date(1)],
      type: "DateTime[]",
      time: 0,
    },
    { ...base, id: "p/s/nan-byte", value: NaN, type: "Byte", time: 0 },
  ];
  const record = JSON.parse(JSON.stringify(points.map((p) => pointToJson(p))));
  assertEquals(record.map((j: { time: unknown }) => j.time), [
    null,
    null,
    ...Array(3).fill("1970-01-01T00:00:00.000Z"),
  ]);
  assertEquals(record[2].value, null);
  assertEquals(record[3].value, [null, "1970-01-01T00:00:00.001Z"]);
  const back = record.map(pointFromJson);
  assertEquals(back[0].time, NaN);
  assertEquals(back[2].value, null);
  assertEquals(back[3].value.map((d: Date) => d.getTime()), [NaN, 1]);
  assertEquals(back[4].value, NaN);
});
