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
  setTimeout(fn: () => void, ms: number): TimerId;
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

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

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

/** Resolves after `ms` on `clock`, or rejects when `signal` aborts. */
export function sleep(ms: number, options: { clock?: Clock; signal?: AbortSignal } = {}) {
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
