/**
 * The sender's epoch: the first half of every nonce, and the order of its
 * runs for the receiver's replay window. It must never repeat for a key, so
 * it is at least the clock's Unix time in seconds and more than the last
 * one kept in the data directory (which covers two starts within a second
 * and a clock set back); it is kept before the first packet goes out.
 */
import { type Clock, writeFileAtomic } from "../../core/mod.ts";

/** The next epoch, kept in `file` before it is returned. */
export async function nextEpoch(file: string, clock: Clock): Promise<number> {
  let last = 0;
  try {
    last = Number((await Deno.readTextFile(file)).trim()) || 0;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const epoch = Math.max(last + 1, Math.floor(clock.now() / 1000));
  if (epoch > 0xffff_ffff) throw new Error(`Diode epoch in "${file}" is exhausted (${last})`);
  await writeFileAtomic(file, `${epoch}\n`, { durable: true });
  return epoch;
}

/** The highest epoch a receiver has taken from a sender (0 before any), kept across its restarts. */
export async function readEpoch(file: string): Promise<number> {
  try {
    return Number((await Deno.readTextFile(file)).trim()) || 0;
  } catch {
    return 0;
  }
}

/**
 * Keeps the highest epoch taken, so a restarted receiver refuses a replay of
 * an earlier run: written whole and flushed, since a file a crash left empty
 * would read as no epoch at all.
 */
export function keepEpoch(file: string, epoch: number): Promise<void> {
  return writeFileAtomic(file, `${epoch}\n`, { durable: true });
}
