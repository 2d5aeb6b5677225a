import assert from "node:assert";
import { warmUpTls } from "./tls_warmup.ts";

Deno.test("warming up TLS settles, never rejecting: the hop does not await it, so a rejection would be unhandled", async () => {
  const result = await warmUpTls();
  assert.strictEqual(result, undefined);
});
