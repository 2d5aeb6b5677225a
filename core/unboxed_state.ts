/**
 * A point's value and status held so that writing them again and again
 * allocates nothing, shared by the store's entries and the MQTT bridge's
 * pooled copies.
 *
 * The value: numbers in a field that only ever holds numbers (V8 keeps such
 * a field as a double and updates it in place), anything else in another. A
 * field that holds doubles beside texts or bigints is tagged, and V8 boxes
 * every double written to it in a new heap number; where the object lives
 * long (a store entry, a pooled copy waiting for a broker), each of those
 * lives until the next write, long enough to be promoted, and grows the old
 * generation with garbage (measured in `tests/store_heap_test.ts`). Which of
 * the two fields holds the value is told by the other one itself (a marker
 * while the number field holds it) rather than by a third field: 8 bytes
 * less per object.
 *
 * The status: even a double field updated in place costs a box of its own
 * per object (Deno's V8 has no pointer compression, so the field points to a
 * 16-byte heap number it rewrites). A status is a 32-bit code, kept as a
 * signed integer, which V8 holds in the object itself; kept as the unsigned
 * code, a single Bad one (2³¹ and beyond) made the field a double for every
 * object of the class. With the third field gone, a store of 100,000 points
 * takes 173 bytes of heap a point instead of 197.
 */
import type { Point } from "./point.ts";

/** What the non-number field holds while the value is the number field's. */
const inNumber: unique symbol = Symbol("in the number field");

/** The base of objects with a point's `value` and `status` held unboxed (see the module's note). */
export class UnboxedState {
  #number = 0;
  #other: Point["value"] | typeof inNumber = null;
  /** The status code's 32 bits as a signed integer. */
  #status = 0;

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

  /** The status code (a 32-bit unsigned integer, as OPC UA has it). */
  get status(): Point["status"] {
    return this.#status >>> 0;
  }

  /** Sets the status code. */
  set status(s: Point["status"]) {
    this.#status = s | 0;
  }
}
