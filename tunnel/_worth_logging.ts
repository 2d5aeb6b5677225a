/**
 * How often a link logs a refusal that repeats: a peer that sends a million
 * bad values must not write a million log lines, yet the count keeps growing
 * in the lines that are written.
 */

/** True for 1, 10, 100, …: how often a repeated refusal is logged. */
export function worthLogging(n: number): boolean {
  while (n >= 10 && n % 10 === 0) n /= 10;
  return n === 1;
}
