/**
 * Waiting on a PLC request while the connection may be lost: each request
 * rejects when the session's loss signal fires, and listens to it only while
 * it waits, so nothing of an answered request stays reachable from the
 * session. (A `Promise.race` with a promise that lives as long as the
 * session leaves a reaction on it per request, holding every answer: at
 * 100,000 variables the browse, read and CreateMonitoredItems answers were
 * about 170 MB of heap kept until the session ended.)
 */
import { withTimeout } from "../../core/mod.ts";

/** Raised inside a session when the connection or session is lost. */
export class Lost extends Error {}

/**
 * Resolves or rejects with `p`, or rejects with {@link Lost} when `lost` is
 * aborted first (its reason as the message), or after `ms`.
 */
export function untilLost<T>(
  what: string,
  p: Promise<T>,
  lost: AbortSignal,
  ms: number,
): Promise<T> {
  const orLost = new Promise<T>((resolve, reject) => {
    if (lost.aborted) return reject(new Lost(String(lost.reason)));
    const onLost = () => reject(new Lost(String(lost.reason)));
    lost.addEventListener("abort", onLost, { once: true });
    p.then(resolve, reject).finally(() => lost.removeEventListener("abort", onLost));
  });
  return withTimeout(orLost, ms, { what });
}
