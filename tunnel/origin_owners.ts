/**
 * Which link owns each origin (a point id's first segment) at this hop. The
 * first link that brings an origin keeps it while it is up; the same origin
 * from a second link is refused, so a peer cannot overwrite, remove or
 * capture the writes of another hop's points. An owner that is down yields
 * its origins to the next link that brings them (a redundant route).
 */
export class OriginOwners {
  #owner = new Map<string, string>();
  #up = new Set<string>();
  /** Origins whose whole data set this hop holds, with the link that brought it. */
  #complete = new Map<string, string>();
  #onComplete = new Set<(origin: string, link: string) => void>();

  /** A link (`link:<peer>`) is open and receiving: it keeps what it owns. */
  up(link: string): void {
    this.#up.add(link);
  }

  /**
   * A link is closed: its origins may go to another link that brings them,
   * and this hop no longer holds their whole data set.
   */
  down(link: string): void {
    this.#up.delete(link);
    for (const [origin, by] of this.#complete) if (by === link) this.#complete.delete(origin);
  }

  /**
   * `link` has brought the whole data set of `origin` (its snapshot, or the
   * peer said so): links sending onward tell their peers, so that points
   * removed at the origin meanwhile are removed there too.
   */
  completed(origin: string, link: string): void {
    this.#complete.set(origin, link);
    for (const l of this.#onComplete) l(origin, link);
  }

  /** The origins whose whole data set this hop holds now, with the link that brought each. */
  completeOrigins(): [origin: string, link: string][] {
    return [...this.#complete];
  }

  /** Calls `listener` with each origin that becomes complete and the link that brought it. */
  onComplete(listener: (origin: string, link: string) => void): () => void {
    this.#onComplete.add(listener);
    return () => this.#onComplete.delete(listener);
  }

  /** The link that owns `origin`, if any. */
  ownerOf(origin: string): string | undefined {
    return this.#owner.get(origin);
  }

  /**
   * Gives `origin` to `link` unless another link that is up owns it; returns
   * the owner that keeps it when refused, `null` when `link` owns it now.
   */
  claim(origin: string, link: string): string | null {
    const current = this.#owner.get(origin);
    if (current === link) return null;
    if (current !== undefined && this.#up.has(current)) return current;
    this.#owner.set(origin, link);
    return null;
  }
}
