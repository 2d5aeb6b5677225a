import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert";
import { ConfigError } from "../core/mod.ts";
import { watchCommandOptions } from "./watch.ts";

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
