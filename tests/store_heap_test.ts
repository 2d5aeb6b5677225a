import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { runDeno } from "./kit/helpers.ts";

const script = new URL("./fixtures/store_heap.ts", import.meta.url).pathname;

Deno.test("a store update leaves no heap behind: status and time are stored in place, Good or Bad; nor does an MQTT bridge's pooled copy of a double taken again; a point held takes under 165 bytes, a pooled copy under 136", async () => {
  const out = await runDeno([
    "run",
    "--allow-read",
    "--v8-flags=--expose-gc,--max-semi-space-size=64",
    script,
  ]);
  assertEquals(out.code, 0, out.stderr);
  const { perPoint, perCopy, ...held } = JSON.parse(out.stdout) as Record<string, number>;
  // A number boxed per update that lives until the point's next update is 16 bytes each.
  assertEquals(Object.keys(held).sort(), ["bad", "copies", "good"]);
  for (const [round, bytes] of Object.entries(held)) {
    assert(bytes < 4, `${round}: held ${bytes} bytes per update`);
  }
  // 157 bytes a point with type, path and origin in one shared route; 173 with three fields of
  // their own; 197 with the status a boxed double and a third value field.
  assert(perPoint! > 100 && perPoint! < 165, `a new store held ${perPoint} bytes per point`);
  // 128 bytes a pooled copy with a Bad status kept as a small integer; 144 with it a boxed double.
  assert(perCopy! > 64 && perCopy! < 136, `the pool's copies held ${perCopy} bytes each`);
});
