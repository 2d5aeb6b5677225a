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

  /** A link (`link:<peer>`) is open and receiving: it keeps what it owns. */
  up(link: string): void {
    this.#up.add(link);
  }

  /** A link is closed: its origins may go to another link that brings them. */
  down(link: string): void {
    this.#up.delete(link);
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
