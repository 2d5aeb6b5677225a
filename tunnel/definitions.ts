/**
 * Point definitions (a type and a hop path) as a link receives them, shared by
 * every index that has the same: the receiver keeps one reference per index
 * instead of two, and 100,000 points of a few paths and types hold a handful
 * of definitions. The reader hands a new path array with every frame, so they
 * are found by the path's names. (The sending side needs none of this: it
 * remembers the store's shared route of each point, `pointRoute`.)
 */
import type { DataType } from "../core/mod.ts";

/** A point's type and hop path as a link defines it for an index; never changed once made. */
export interface Definition {
  readonly type: DataType;
  readonly hops: string[];
}

/**
 * Distinct paths remembered at the most. A peer may send a new path with
 * every definition; past this many the cache starts over, which costs only
 * sharing (definitions already handed out stay as they are).
 */
export const maxPaths = 4096;

/** Hands out one {@link Definition} per distinct type and path. */
export class Definitions {
  /** The definitions of each path, by the path's hop names joined with NUL (no hop name holds one). */
  #byPath = new Map<string, Definition[]>();
  /** Callers hand the same array for a run of one path: its definitions, remembered. */
  #lastHops: string[] | null = null;
  #last: Definition[] = [];

  /** Paths held now (at most {@link maxPaths}). */
  get paths(): number {
    return this.#byPath.size;
  }

  /** The shared definition of `type` and `hops` (whose array it may keep: do not change it after). */
  of(type: DataType, hops: string[]): Definition {
    let defs = this.#last;
    if (hops !== this.#lastHops) {
      const key = hops.join("\u0000");
      const known = this.#byPath.get(key);
      if (known !== undefined) defs = known;
      else {
        if (this.#byPath.size >= maxPaths) this.#byPath.clear();
        defs = [];
        this.#byPath.set(key, defs);
      }
      this.#lastHops = hops;
      this.#last = defs;
    }
    for (let i = 0; i < defs.length; i++) if (defs[i]!.type === type) return defs[i]!;
    // Every definition of a path shares the first one's array.
    const def: Definition = { type, hops: defs[0]?.hops ?? hops };
    defs.push(def);
    return def;
  }
}
