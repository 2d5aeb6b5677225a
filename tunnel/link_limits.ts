/**
 * Bounds on what a peer can make this hop hold and decode, shared by both
 * sides of a link: a receiver refuses more, and a sender holds itself to the
 * same flags so the next hop never has to refuse it (see docs/security.md).
 */

/** Bounds on what a peer can make this hop hold and decode (see docs/security.md). */
export interface LinkLimits {
  /** Most points the hop holds; a link that would add more is closed. */
  maxPoints: number;
  /** Most point indexes one link may define. */
  maxLinkPoints: number;
  /** Longest id and cause text, UTF-8 bytes. */
  maxId: number;
  /** Longest hop path, in hops. */
  maxHops: number;
  /** Largest value received or sent; a larger one travels as Bad without it. */
  maxValue: number;
}

/** The limits' defaults, as the flags give them. */
export const defaultLimits: LinkLimits = {
  maxPoints: 1_000_000,
  maxLinkPoints: 500_000,
  maxId: 1024,
  maxHops: 16,
  maxValue: 256 * 1024,
};
