/**
 * Time as a dependency: heartbeats, timeouts and backoff take a clock so
 * tests can drive them deterministically instead of waiting.
 */

/** An opaque timer handle. */
export type TimerId = number;

/** Wall time and one-shot timers. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Calls `fn` once after `ms`. */
  setTimeout(fn: () => void, ms: number): TimerId;
  /** Cancels a timer that has not fired. */
  clearTimeout(id: TimerId): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  // Node's typings (pulled in by npm packages) make setTimeout return an object; Deno's is a number.
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as TimerId,
  clearTimeout: (id) => clearTimeout(id),
};

/** A clock that only moves when told to; for tests of time-driven behaviour. */
export class ManualClock implements Clock {
  #now: number;
  #next = 1;
  #timers = new Map<TimerId, { at: number; fn: () => void }>();

  /** Starts at epoch ms `start`. */
  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Calls `fn` once time has advanced by `ms`. */
  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  /** Cancels a timer that has not fired. */
  clearTimeout(id: TimerId): void {
    this.#timers.delete(id);
  }

  /** Number of timers still pending. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Milliseconds until the earliest pending timer is due, or undefined when none is. */
  nextDelay(): number | undefined {
    let at = Infinity;
    for (const t of this.#timers.values()) at = Math.min(at, t.at);
    return at === Infinity ? undefined : at - this.#now;
  }

  /** Moves time forward, firing due timers in order (including ones they set). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let dueId: TimerId | undefined;
      let dueAt = Infinity;
      for (const [id, t] of this.#timers) {
        if (t.at <= end && t.at < dueAt) {
          dueAt = t.at;
          dueId = id;
        }
      }
      if (dueId === undefined) break;
      const t = this.#timers.get(dueId)!;
      this.#timers.delete(dueId);
      this.#now = Math.max(this.#now, t.at);
      t.fn();
    }
    this.#now = end;
  }
}

/**
 * Resolves after `ms` on `clock` (the system clock by default), or rejects with
 * the signal's reason when `signal` aborts: the one way to wait in hops, tests
 * and benchmarks, so that a waiting loop can be stopped and driven by a
 * {@linkcode ManualClock}.
 */
export function sleep(
  ms: number,
  options: { clock?: Clock; signal?: AbortSignal } = {},
): Promise<void> {
  const clock = options.clock ?? systemClock;
  const signal = options.signal;
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clock.clearTimeout(id);
      reject(signal?.reason);
    };
    const id = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Settles as `p` does, or rejects with `Error("<what> timed out after <ms> ms")`
 * when `p` takes longer than `ms` on `clock`, so that a step of a connection or
 * a shutdown cannot hang its caller. `p` goes on running; only the wait ends.
 */
export function withTimeout<T>(
  p: Promise<T>,
  ms: number,
  options: { what?: string; clock?: Clock } = {},
): Promise<T> {
  const clock = options.clock ?? systemClock;
  const what = options.what ?? "The operation";
  let timer: TimerId | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = clock.setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => {
    if (timer !== undefined) clock.clearTimeout(timer);
  });
}
