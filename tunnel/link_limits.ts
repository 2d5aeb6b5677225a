/**
 * What both sides of a link session share: the hop's store, clock and log,
 * the two hops' names, the link's origin, and the bounds on what a peer can
 * make this hop hold and decode (a receiver refuses more, and a sender holds
 * itself to the same flags so the next hop never has to refuse it; see
 * docs/security.md).
 */
import type { LinkCounters } from "./link_counters.ts";
import type { Clock, Logger, PointStore } from "../core/mod.ts";

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

/** What the sending and the receiving side of a link session both need from it. */
export interface LinkSideOptions {
  store: PointStore;
  clock: Clock;
  log: Logger;
  /** This hop's name, and the peer's (as its certificate names it). */
  hop: string;
  peer: string;
  /** The origin of points received over this link (`link:<peer>`). */
  origin: string;
  limits: LinkLimits;
  /** The link's traffic counters, kept by its adapter across sessions. */
  counters: LinkCounters;
}
