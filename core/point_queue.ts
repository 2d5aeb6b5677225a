/**
 * Points of one store waiting for their turn, oldest first, each at most
 * once: what a sink that coalesces keeps (each waiting point goes with its
 * latest state). A point is marked by its slot, an array access, where a
 * `Set` of points hashes every change into a table of up to the whole data
 * set: in a CPU profile of an MQTT hop passing on a saturated chain's
 * updates, that set's adds and its walk took 8% of the hop's time.
 */
import type { StoredPoint } from "./point_store.ts";
import { PointSet } from "./point_set.ts";

/**
 * Store points in the order they were first added since they were last taken.
 * Its owner deletes a point from it when the store removes it (in the store's
 * `onRemove`, while the point still has its slot): a removed point is never
 * taken, but one not deleted stays counted in {@link size}.
 */
export class PointQueue {
  /** Points in the order added; an entry whose point left meanwhile is skipped. */
  #order: StoredPoint[] = [];
  #head = 0;
  /** The points waiting, by slot. */
  #waiting = new PointSet();

  /** Points waiting (and removed points not deleted, see the class). */
  get size(): number {
    return this.#waiting.size;
  }

  /** Adds `p` unless it is waiting already; a point removed from its store (no slot) is not added. */
  add(p: StoredPoint): void {
    if (this.#waiting.add(p)) this.#order.push(p);
  }

  /** Takes `p` out (call it while the point still has its slot, as the store's onRemove does). */
  delete(p: StoredPoint): void {
    this.#waiting.delete(p);
  }

  /** The point that has waited longest, taken out; undefined when none waits. */
  shift(): StoredPoint | undefined {
    const order = this.#order;
    while (this.#head < order.length) {
      const p = order[this.#head++]!;
      if (!this.#waiting.delete(p)) continue;
      this.#compact();
      return p;
    }
    this.#compact();
    return undefined;
  }

  /** Drops the entries already passed, so the order does not grow with every point ever added. */
  #compact(): void {
    if (this.#head === this.#order.length) {
      this.#order.length = 0;
      this.#head = 0;
    } else if (this.#head > 65_536 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }
}
