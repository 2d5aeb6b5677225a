import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert";
import { ConfigError, PointStore, Status } from "../core/mod.ts";
import { pointLine, watchCommandOptions } from "./watch.ts";

Deno.test("watch --listen accepts the named hop's push, and needs that name", () => {
  const o = watchCommandOptions("plant1=127.0.0.1:7100", { name: "ops", listen: true });
  assertEquals([o.peer, o.listen, o.address], ["plant1", true, {
    host: "127.0.0.1",
    port: 7100,
  }]);
  assertEquals(watchCommandOptions("dmz=127.0.0.1:7000", { name: "ops" }).listen, undefined);
  assertThrows(
    () => watchCommandOptions("127.0.0.1:7100", { name: "ops", listen: true }),
    (e) => e instanceof ConfigError && /--listen needs the pushing hop's name/.test(e.problems[0]!),
  );
});

Deno.test("a point line never throws: a time or date that is no date prints as null", () => {
  const store = new PointStore("ops");
  const line = (time: number, value: Date | Uint8Array = new Date(0)) => {
    const p = store.apply({
      id: "plant1/plc/a",
      value,
      type: value instanceof Date ? "DateTime" : "ByteString",
      status: Status.Good,
      time,
      hops: ["plant1"],
      cause: null,
    }, "link:plant1")!;
    return JSON.parse(pointLine(p));
  };
  for (const time of [NaN, Infinity, -Infinity, 8.64e15 + 1]) {
    assertEquals(line(time).time, null, String(time));
  }
  assertEquals(line(0).time, "1970-01-01T00:00:00.000Z");
  assertEquals(line(8.64e15).time, "+275760-09-13T00:00:00.000Z");
  const bad = line(0, new Date(NaN));
  assertEquals([bad.value, bad.status, bad.id], [null, "Good", "plant1/plc/a"]);
  // Bytes beyond what one call can spread still print (base64 of 200,000 zero bytes).
  assertEquals(line(0, new Uint8Array(200_000)).value.length, 266_668);
});
