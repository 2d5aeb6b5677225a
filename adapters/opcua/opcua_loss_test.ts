import { deepStrictEqual as assertEquals, rejects } from "node:assert";
import { Lost, untilLost } from "./opcua_loss.ts";

/** A loss signal that counts the listeners added to it and removed from it. */
function countedSignal() {
  const loss = new AbortController();
  const counts = { added: 0, removed: 0 };
  const signal = loss.signal;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<AbortSignal["addEventListener"]>) => {
    counts.added++;
    add(...args);
  };
  signal.removeEventListener = (...args: Parameters<AbortSignal["removeEventListener"]>) => {
    counts.removed++;
    remove(...args);
  };
  return { loss, signal, counts };
}

Deno.test("an answered or failed request leaves the session's loss signal", async () => {
  const { signal, counts } = countedSignal();
  assertEquals(await untilLost("read", Promise.resolve(42), signal, 1_000), 42);
  await rejects(
    untilLost("read", Promise.reject(new Error("BadTimeout")), signal, 1_000),
    /BadTimeout/,
  );
  // Every listener added is removed once its request is settled: none keeps an answer alive.
  await Promise.resolve();
  assertEquals(counts, { added: 2, removed: 2 });
});

Deno.test("a loss rejects the request under way, and a later one at once", async () => {
  const { loss, signal } = countedSignal();
  const pending = untilLost("browse", new Promise<never>(() => {}), signal, 5_000);
  loss.abort("connection lost");
  const lost = (e: unknown) => e instanceof Lost && e.message === "connection lost";
  await rejects(pending, lost);
  await rejects(untilLost("read", Promise.resolve(1), signal, 1_000), lost);
});

Deno.test("a request that outlasts its bound times out, naming it", async () => {
  const { signal, counts } = countedSignal();
  await rejects(
    untilLost("monitor a batch", new Promise<never>(() => {}), signal, 10),
    /monitor a batch timed out after 10 ms/,
  );
  assertEquals(counts.added, 1);
});
