/**
 * Checked command-line values for the benchmark scripts: a bad one stops the
 * script with a message naming the flag and what it takes, instead of a run
 * of NaN items or an unknown hop kind.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/**
 * The script's flags (`Deno.args`) as node:util's parseArgs reads them, or
 * exits with its message and the flags the script takes (an unknown flag,
 * `--help`, a value missing), instead of a stack trace.
 */
export function scriptFlags<T extends NonNullable<ParseArgsConfig["options"]>>(options: T) {
  try {
    return parseArgs({ args: Deno.args, options }).values;
  } catch (e) {
    const known = Object.keys(options).map((k) => `--${k}`).join(", ");
    fail(`${(e as Error).message.split("\n")[0]}; this script takes ${known}`);
  }
}

/** `text` as a whole number ≥ `min` for flag `flag`, or exits with a message. */
export function wholeNumber(flag: string, text: string, min = 0): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n < min) {
    fail(`${flag} takes a whole number of at least ${min}, not "${text}"`);
  }
  return n;
}

/** The comma-separated `text` of flag `flag`, each one of `choices`, or exits with a message. */
export function listOf<T extends string>(flag: string, text: string, choices: readonly T[]): T[] {
  const items = text.split(",").map((x) => x.trim()).filter((x) => x);
  const bad = items.filter((x) => !(choices as readonly string[]).includes(x));
  if (items.length === 0 || bad.length > 0) {
    fail(`${flag} takes a comma-separated list of ${choices.join(", ")}, not "${text}"`);
  }
  return items as T[];
}

function fail(message: string): never {
  console.error(message);
  Deno.exit(2);
}
