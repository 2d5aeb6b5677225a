/**
 * How late the event loop runs timers: a timer every 100 ms measures how much
 * later than asked it fired. A hop whose loop is late delays every link's
 * heartbeats and every point it forwards, so the status endpoint shows it.
 */

/** Sampling period, ms. */
const periodMs = 100;

/** The event loop's lateness, sampled while started. */
export class LoopDelay {
  #timer = 0;
  #expected = 0;
  #max = 0;
  #last = 0;

  /** Starts sampling. */
  start(): void {
    this.#expected = performance.now() + periodMs;
    this.#arm();
  }

  /** Stops sampling. */
  stop(): void {
    clearTimeout(this.#timer);
  }

  /** The largest delay since the last call, in seconds; resets it to the last sample. */
  takeMaxSeconds(): number {
    const max = this.#max;
    this.#max = this.#last;
    return max / 1000;
  }

  #arm(): void {
    // Node's typings (pulled in by npm packages) make setTimeout return an object; Deno's is a number.
    this.#timer = setTimeout(() => this.#sample(), periodMs) as unknown as number;
    Deno.unrefTimer(this.#timer);
  }

  #sample(): void {
    const now = performance.now();
    this.#last = Math.max(0, now - this.#expected);
    if (this.#last > this.#max) this.#max = this.#last;
    this.#expected = now + periodMs;
    this.#arm();
  }
}
