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
  /**
   * Points in the order added, from `#head` to `#tail`; an entry whose point
   * left meanwhile is skipped. The array keeps its length when the queue
   * empties: setting an array's length to 0 lets V8 drop its backing store,
   * so a queue that emptied and filled again several times a second (an MQTT
   * hop whose broker is now and then behind) allocated an array of up to the
   * whole data set each time, in the large-object space, where only a
   * mark-compact collects it.
   */
  #order: (StoredPoint | undefined)[] = [];
  #head = 0;
  #tail = 0;
  /** The points waiting, by slot. */
  #waiting = new PointSet();

  /** Points waiting (and removed points not deleted, see the class). */
  get size(): number {
    return this.#waiting.size;
  }

  /** Adds `p` unless it is waiting already; a point removed from its store (no slot) is not added. */
  add(p: StoredPoint): void {
    if (!this.#waiting.add(p)) return;
    const order = this.#order;
    if (this.#tail < order.length) order[this.#tail] = p;
    else order.push(p);
    this.#tail++;
  }

  /** Takes `p` out (call it while the point still has its slot, as the store's onRemove does). */
  delete(p: StoredPoint): void {
    this.#waiting.delete(p);
  }

  /** The point that has waited longest, taken out; undefined when none waits. */
  shift(): StoredPoint | undefined {
    const order = this.#order;
    while (this.#head < this.#tail) {
      const p = order[this.#head]!;
      // Not kept past its turn: a point removed from its store is not held here.
      order[this.#head++] = undefined;
      if (!this.#waiting.delete(p)) continue;
      this.#compact();
      return p;
    }
    this.#compact();
    return undefined;
  }

  /** Starts over at the front once every entry was passed, or moves the rest there. */
  #compact(): void {
    if (this.#head === this.#tail) {
      this.#head = 0;
      this.#tail = 0;
    } else if (this.#head > 65_536 && this.#head * 2 > this.#tail) {
      const order = this.#order;
      order.copyWithin(0, this.#head, this.#tail);
      const rest = this.#tail - this.#head;
      order.fill(undefined, rest, this.#tail);
      this.#head = 0;
      this.#tail = rest;
    }
  }
}
