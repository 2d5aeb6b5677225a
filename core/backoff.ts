/**
 * Reconnect pacing shared by every dialer (tunnel links, OPC UA sessions,
 * MQTT): exponential growth with full jitter, reset after a success.
 */

/** Bounds of a backoff sequence, in milliseconds. */
export interface BackoffOptions {
  /** First delay (default 250 ms). */
  initial?: number;
  /** Largest delay (default 30 s). */
  max?: number;
  /** Growth per failure (default 2). */
  factor?: number;
  /** Random source in [0, 1) (default Math.random); injectable for tests. */
  random?: () => number;
}

/** Produces the delays before successive reconnect attempts. */
export class Backoff {
  #attempt = 0;
  #initial: number;
  #max: number;
  #factor: number;
  #random: () => number;

  /** Defaults: 250 ms initial, 30 s cap, factor 2, `Math.random` jitter. */
  constructor(options: BackoffOptions = {}) {
    this.#initial = options.initial ?? 250;
    this.#max = options.max ?? 30_000;
    this.#factor = options.factor ?? 2;
    this.#random = options.random ?? Math.random;
  }

  /** Failures since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /**
   * The next delay: half the exponential ceiling plus a random half, so
   * that hops restarted together do not reconnect in lockstep.
   */
  next(): number {
    const ceiling = Math.min(this.#max, this.#initial * this.#factor ** this.#attempt);
    this.#attempt++;
    return Math.round(ceiling / 2 + this.#random() * ceiling / 2);
  }

  /** Starts over after a successful connection. */
  reset(): void {
    this.#attempt = 0;
  }
}
