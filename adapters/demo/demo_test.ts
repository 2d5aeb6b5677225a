import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert";
import { ConfigError } from "../../core/mod.ts";
import { demoOptions } from "./mod.ts";

Deno.test("demo flags become options; a bad number or broker URL is refused with the flag named", () => {
  assertEquals(
    demoOptions({ seconds: "25", cutAfter: "8", restoreAfter: "14", broker: "mqtt://b:1883" }),
    { seconds: 25, cutAfter: 8, restoreAfter: 14, broker: "mqtt://b:1883" },
  );
  assertEquals(demoOptions({}), {});
  assertThrows(
    () => demoOptions({ cutAfter: "soon" }),
    (e) => e instanceof ConfigError && /--cut-after "soon"/.test(e.problems.join()),
  );
  assertThrows(
    () => demoOptions({ broker: "http://b" }),
    (e) => e instanceof ConfigError && /--broker "http:\/\/b"/.test(e.problems.join()),
  );
});
