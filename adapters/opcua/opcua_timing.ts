/**
 * The timing of a PLC session, derived from the publishing and sampling
 * intervals so that every interval the flags accept works: the keep-alive
 * period, the subscription lifetime and the session timeout follow the
 * publishing interval (a fixed 10 keep-alives against a fixed 60 s session
 * timeout broke every interval above 6 s), and the monitored items' queue is
 * long enough to hold every sample taken between two publishes.
 */

/** Aimed-for keep-alive period: a silent PLC is noticed within about twice this. */
export const keepAliveTarget = 5_000;
/** The fewest keep-alives per period node-opcua accepts, and the fewest the standard advises. */
export const minKeepAliveCount = 3;
/** The shortest session timeout asked for, whatever the intervals. */
export const minSessionTimeout = 60_000;
/** Longest queue derived per monitored item (more is given with --opcua-queue). */
export const maxDerivedQueue = 100;

/** What a session and its subscriptions ask the PLC for. */
export interface SessionTiming {
  /** Session timeout asked for at CreateSession (ms). */
  sessionTimeout: number;
  /** Publishing intervals without data after which the server sends a keep-alive. */
  keepAliveCount: number;
  /** Publishing intervals without a Publish request after which the server drops the subscription. */
  lifetimeCount: number;
  /** Samples each monitored item keeps between two publishes. */
  queueSize: number;
}

/**
 * The session and subscription parameters for a publishing interval and a
 * sampling interval (both ms; sampling 0 is the server's fastest).
 * `queue` is --opcua-queue (0 derives it).
 */
export function sessionTiming(
  publishing: number,
  sampling: number,
  queue = 0,
): SessionTiming {
  const p = Math.max(1, publishing);
  const keepAliveCount = Math.max(minKeepAliveCount, Math.ceil(keepAliveTarget / p));
  const keepAlive = keepAliveCount * p;
  return {
    // Well above the keep-alive period, so an idle session never times out between two answers.
    sessionTimeout: Math.max(minSessionTimeout, 4 * keepAlive),
    keepAliveCount,
    // At least a minute and at least three keep-alive periods (the standard's minimum).
    lifetimeCount: Math.max(3 * keepAliveCount, Math.ceil(60_000 / p)),
    queueSize: queue > 0 ? queue : derivedQueue(p, sampling),
  };
}

/**
 * Samples taken in one publishing interval plus one, so that no sampled
 * change is dropped when a publish is a little late; at least 2, because
 * with a queue of 1 the server keeps only the newest sample and never sets
 * the Overflow bit, so losses would go unseen.
 */
export function derivedQueue(publishing: number, sampling: number): number {
  // A sampling of 0 asks for the server's fastest: assume 10 ms, a common floor.
  const perPublish = Math.ceil(publishing / Math.max(sampling, 10));
  return Math.min(maxDerivedQueue, Math.max(2, perPublish + 1));
}

/**
 * The keep-alive count to ask for once the server has revised the session
 * timeout: the derived one, lowered so that a keep-alive period stays within
 * half the session timeout (node-opcua refuses a subscription whose
 * keep-alive period exceeds the session timeout), but never below 3.
 */
export function fitKeepAlive(
  timing: SessionTiming,
  publishing: number,
  revisedSessionTimeout: number,
): number {
  const fits = Math.floor(revisedSessionTimeout / 2 / Math.max(1, publishing));
  return Math.max(minKeepAliveCount, Math.min(timing.keepAliveCount, fits));
}

/**
 * How long the PLC may stay silent before the connection is given up: twice
 * the revised keep-alive period plus 2 s.
 */
export function silenceLimit(revisedPublishing: number, revisedKeepAliveCount: number): number {
  return 2 * revisedPublishing * revisedKeepAliveCount + 2_000;
}
