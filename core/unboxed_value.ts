/**
 * A point's value held so that a number written again and again allocates
 * nothing: numbers in a field that only ever holds numbers (V8 keeps such a
 * field as a double and updates it in place), anything else in another. A
 * field that holds doubles beside texts or bigints is tagged, and V8 boxes
 * every double written to it in a new heap number; where the object lives
 * long (a store entry, a pooled copy waiting for a broker), each of those
 * lives until the next write, long enough to be promoted, and grows the old
 * generation with garbage (measured in `tests/store_heap_test.ts`).
 */
import type { Point } from "./point.ts";

/** The base of objects with a point's `value` held unboxed (see the module's note). */
export class UnboxedValue {
  #number = 0;
  #other: Point["value"] = null;
  #isNumber = false;

  /** The value, a number read from the numbers' own field. */
  get value(): Point["value"] {
    return this.#isNumber ? this.#number : this.#other;
  }

  /** Sets the value; a number is written over the last in place. */
  set value(v: Point["value"]) {
    if (typeof v === "number") {
      this.#number = v;
      this.#isNumber = true;
      this.#other = null;
    } else {
      this.#other = v;
      this.#isNumber = false;
    }
  }
}
