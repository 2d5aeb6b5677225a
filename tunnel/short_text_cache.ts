/**
 * Text values recently read, for a link's receiver. Industrial text values
 * repeat (machine states, alarm texts, recipe names), and every received
 * one used to be decoded into a new string that the store then held until
 * the point's next change: at a few hundred thousand updates a second that
 * outlived young-generation collections and was a tenth of what a hop
 * passing a saturated chain on promoted to its old generation (heap sampling
 * of the chain benchmark, whose simulator makes 1,000 distinct texts). A
 * short ASCII text found here is the string read before, without a decoder
 * call or an allocation; anything else is decoded as it comes.
 */

/** Longest text kept, in bytes: ids and long texts rarely repeat, and comparing them costs more. */
const maxBytes = 32;
/** Slots of the table (a power of two); a text lives in the slot its hash gives until another takes it. */
const slots = 4096;

/**
 * Decodes `n` bytes at `start` of `b`, which are ASCII (all below 128; the
 * caller decodes anything else): short texts as a loop of char codes, where
 * the runtime's decoder costs a call and a view (88 against 188 ns for 12
 * bytes, medians of seven passes of 200,000).
 */
function ascii(b: Uint8Array, start: number, n: number, decoder: TextDecoder): string {
  if (n > 12) return decoder.decode(b.subarray(start, start + n));
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(b[start + i]!);
  return s;
}

/** Recently read short ASCII texts, by a hash of their bytes. */
export class ShortTextCache {
  #texts: (string | undefined)[] = new Array(slots).fill(undefined);
  #decoder = new TextDecoder();

  /**
   * The text of the `n` bytes at `start` of `b` if they are ASCII and at
   * most {@link maxBytes} long (from the table when it holds them), or
   * undefined: then the caller decodes them as UTF-8.
   */
  read(b: Uint8Array, start: number, n: number): string | undefined {
    if (n > maxBytes) return undefined;
    // FNV-1a over the bytes, noting meanwhile whether any is beyond ASCII.
    let h = 0x811c9dc5 ^ n, high = 0;
    for (let i = start; i < start + n; i++) {
      const c = b[i]!;
      high |= c;
      h = Math.imul(h ^ c, 0x01000193);
    }
    if (high >= 128) return undefined;
    const slot = (h ^ (h >>> 15)) & (slots - 1);
    const held = this.#texts[slot];
    if (held !== undefined && held.length === n) {
      let i = 0;
      while (i < n && held.charCodeAt(i) === b[start + i]) i++;
      if (i === n) return held;
    }
    const text = ascii(b, start, n, this.#decoder);
    this.#texts[slot] = text;
    return text;
  }
}
