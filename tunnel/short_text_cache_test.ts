import { strictEqual as assertSame } from "node:assert";
import fc from "fast-check";
import { ShortTextCache } from "./short_text_cache.ts";

const utf8 = new TextEncoder();

/** `text`'s UTF-8 bytes at `at` of a larger buffer, as a frame holds them. */
function framed(text: string, at = 3): { b: Uint8Array; n: number } {
  const bytes = utf8.encode(text);
  const b = new Uint8Array(at + bytes.length + 5).fill(0x41);
  b.set(bytes, at);
  return { b, n: bytes.length };
}

Deno.test("a short ASCII text reads as itself the first time and again, from wherever in a buffer it stands; others are left to the caller", () => {
  const cache = new ShortTextCache();
  const first = framed("state-417", 3), second = framed("state-417", 11);
  const a = cache.read(first.b, 3, first.n);
  const b = cache.read(second.b, 11, second.n);
  assertSame(a, "state-417");
  assertSame(b, "state-417");
  assertSame(cache.read(first.b, 3, 0), "");
  // Texts it does not keep are left to the caller's UTF-8 decoder.
  const long = framed("x".repeat(33));
  assertSame(cache.read(long.b, 3, long.n), undefined);
  const accented = framed("Zustand: geöffnet");
  assertSame(cache.read(accented.b, 3, accented.n), undefined);
});

Deno.test("whatever short texts are read, in whatever order, each reads as itself (texts sharing a slot included)", () => {
  const cache = new ShortTextCache();
  // Few slots' worth of distinct texts collide often enough: 6,000 texts in 4,096 slots.
  const texts = Array.from({ length: 6000 }, (_, i) => `s${i}`);
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constantFrom(...texts), fc.string({ maxLength: 40 })), {
        maxLength: 300,
      }),
      (reads) => {
        for (const t of reads) {
          const { b, n } = framed(t);
          const got = cache.read(b, 3, n);
          const isShortAscii = n <= 32 && [...utf8.encode(t)].every((c) => c < 128);
          assertSame(got, isShortAscii ? t : undefined);
        }
      },
    ),
    { numRuns: 200 },
  );
});
