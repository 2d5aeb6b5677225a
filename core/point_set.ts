/**
 * A set of one store's points, held by their slots: adding or testing a point
 * is an array access, where a `Set` of ids hashes each id and grows a hash
 * table. A receiver marks every point a 100,000-point snapshot states; with
 * a `Set<string>` that bookkeeping and the sweep after it took a fifth of the
 * receiving hop's time (CPU profile of a snapshot, `deno run --cpu-prof`).
 */
import { pointSlot, type StoredPoint } from "./point_store.ts";

/** Points of one store, by slot. A removed point is not in the set, whatever was added. */
export class PointSet {
  /** The point added for each slot; compared on lookup, as a slot passes to later points. */
  #bySlot: (StoredPoint | undefined)[] = [];

  /** Adds `p`; a point removed from its store (no slot) is not added. */
  add(p: StoredPoint): void {
    const slot = pointSlot(p);
    if (slot < 0) return;
    const bySlot = this.#bySlot;
    // Filled up to the slot, never assigned past the end: the array stays packed, not a dictionary.
    while (bySlot.length <= slot) bySlot.push(undefined);
    bySlot[slot] = p;
  }

  /** Whether `p` was added and is still held by its store in the slot it had. */
  has(p: StoredPoint): boolean {
    const slot = pointSlot(p);
    return slot >= 0 && this.#bySlot[slot] === p;
  }
}
