import { deepStrictEqual as assertEquals } from "node:assert";
import { runDeno } from "./kit/helpers.ts";

const script = new URL("./fixtures/opcua_changes_heap.ts", import.meta.url).pathname;

Deno.test("a DataChangeNotification whose changes the source released no longer keeps its message; one not released still decodes its items from it", async () => {
  const out = await runDeno(["run", "-A", "--v8-flags=--expose-gc", script]);
  assertEquals(out.code, 0, out.stderr);
  assertEquals(JSON.parse(out.stdout), {
    releasedMessageFreed: true,
    keptMessageFreed: false,
    releasedItems: 0,
    keptItems: 500,
  });
});
