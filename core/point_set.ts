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
  #size = 0;

  /**
   * Points added and not deleted, less those whose slot went to a later
   * point: a point removed from its store counts until it is deleted (while
   * it still has its slot, as in a store's `onRemove`) or its slot is reused.
   */
  get size(): number {
    return this.#size;
  }

  /** Adds `p`; false if it was in the set already, or is removed from its store (no slot). */
  add(p: StoredPoint): boolean {
    const slot = pointSlot(p);
    if (slot < 0) return false;
    const bySlot = this.#bySlot;
    // Filled up to the slot, never assigned past the end: the array stays packed, not a dictionary.
    while (bySlot.length <= slot) bySlot.push(undefined);
    const before = bySlot[slot];
    if (before === p) return false;
    // A point in the slot before was removed from its store: it leaves the set for this one.
    if (before === undefined) this.#size++;
    bySlot[slot] = p;
    return true;
  }

  /** Whether `p` was added and is still held by its store in the slot it had. */
  has(p: StoredPoint): boolean {
    const slot = pointSlot(p);
    return slot >= 0 && this.#bySlot[slot] === p;
  }

  /** Takes `p` out; false if it was not in the set. */
  delete(p: StoredPoint): boolean {
    if (!this.has(p)) return false;
    this.#bySlot[pointSlot(p)] = undefined;
    this.#size--;
    return true;
  }
}
