/**
 * A point's value held so that a number written again and again allocates
 * nothing: numbers in a field that only ever holds numbers (V8 keeps such a
 * field as a double and updates it in place), anything else in another. A
 * field that holds doubles beside texts or bigints is tagged, and V8 boxes
 * every double written to it in a new heap number; where the object lives
 * long (a store entry, a pooled copy waiting for a broker), each of those
 * lives until the next write, long enough to be promoted, and grows the old
 * generation with garbage (measured in `tests/store_heap_test.ts`).
 *
 * Which of the two holds the value is told by the other field itself (a
 * marker while the number field holds it) rather than by a third field: 8
 * bytes less per object, 0.8 MB of a store of 100,000 points.
 */
import type { Point } from "./point.ts";

/** What the non-number field holds while the value is the number field's. */
const inNumber: unique symbol = Symbol("in the number field");

/** The base of objects with a point's `value` held unboxed (see the module's note). */
export class UnboxedValue {
  #number = 0;
  #other: Point["value"] | typeof inNumber = null;

  /** The value, a number read from the numbers' own field. */
  get value(): Point["value"] {
    const other = this.#other;
    return other === inNumber ? this.#number : other;
  }

  /** Sets the value; a number is written over the last in place. */
  set value(v: Point["value"]) {
    if (typeof v === "number") {
      this.#number = v;
      this.#other = inNumber;
    } else {
      this.#other = v;
    }
  }
}
