import assert from "node:assert";
import { warmUpTls } from "./tls_warmup.ts";

Deno.test("warming up TLS makes its key and settles, and never rejects, whatever making the key does: the hop does not await it, so a rejection would be unhandled", async () => {
  let made = 0;
  assert.strictEqual(await warmUpTls(() => Promise.resolve(made++)), undefined);
  assert.strictEqual(made, 1);
  assert.strictEqual(await warmUpTls(() => Promise.reject(new Error("no ECDSA"))), undefined);
  assert.strictEqual(
    await warmUpTls(() => {
      throw new TypeError("crypto.subtle is undefined");
    }),
    undefined,
  );
  // The real one: WebCrypto's ECDSA key.
  assert.strictEqual(await warmUpTls(), undefined);
});
