/**
 * The receiver's replay window over one sender's packets (as in IPsec, RFC
 * 4303 §3.4.3): a packet of an earlier epoch (an earlier run of the sender),
 * one already seen, or one too far behind the newest is refused. The window
 * moves only for packets that passed authentication, so a forger cannot
 * push it.
 */

/** Packets behind the newest that can still arrive (reordered) and be taken. */
export const windowSize = 4096;

/** Why a packet is refused, or `fresh`. */
export type ReplayVerdict = "fresh" | "replayed" | "earlier-epoch" | "too-old";

/** The window of one sender. */
export class ReplayWindow {
  #epoch = -1;
  #highest = -1;
  #seen = new Uint8Array(windowSize);

  /** The epoch of the sender's packets taken last (-1 before any). */
  get epoch(): number {
    return this.#epoch;
  }

  /** The newest packet number taken in this epoch (-1 before any). */
  get highest(): number {
    return this.#highest;
  }

  /** Refuses every epoch before `epoch` (the newest one seen before a restart). */
  startAt(epoch: number): void {
    if (epoch <= this.#epoch) return;
    this.#epoch = epoch;
    this.#highest = -1;
    this.#seen.fill(0);
  }

  /** Whether a packet would be taken; changes nothing. */
  check(epoch: number, seq: number): ReplayVerdict {
    if (epoch < this.#epoch) return "earlier-epoch";
    if (epoch > this.#epoch || seq > this.#highest) return "fresh";
    if (this.#highest - seq >= windowSize) return "too-old";
    return this.#seen[seq % windowSize] === 1 ? "replayed" : "fresh";
  }

  /** Takes an authenticated packet that {@link check} found fresh; true when it opens a new epoch. */
  take(epoch: number, seq: number): boolean {
    const newEpoch = epoch > this.#epoch;
    if (newEpoch) {
      this.#epoch = epoch;
      this.#highest = -1;
      this.#seen.fill(0);
    }
    if (seq > this.#highest) {
      const from = Math.max(this.#highest + 1, seq - windowSize + 1);
      if (seq - this.#highest >= windowSize) this.#seen.fill(0);
      else for (let s = from; s < seq; s++) this.#seen[s % windowSize] = 0;
      this.#highest = seq;
    }
    this.#seen[seq % windowSize] = 1;
    return newEpoch;
  }
}
