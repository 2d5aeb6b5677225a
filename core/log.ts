/**
 * Log setup, kept in one module so the logging library can be swapped
 * locally: human-readable lines on stderr, or JSON lines for machines.
 * Values interpolated into a line may be a peer's text (a close reason, a
 * certificate name): they are escaped so that they cannot forge a line or
 * drive the operator's terminal.
 */
import {
  configure,
  type ConsoleSinkOptions,
  getConsoleSink,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  type LogLevel,
  reset,
  type TextFormatter,
} from "@logtape/logtape";

/** Output format of log lines. */
export type LogFormat = "text" | "json";

/** A level accepted by `--log-level`. */
export type LogLevelName = "debug" | "info" | "warning" | "error";

/** Levels accepted by `--log-level`, least severe first. */
export const logLevels: readonly LogLevelName[] = ["debug", "info", "warning", "error"];

/**
 * The logging hopgate code does: a message template whose `{name}`
 * placeholders are filled from `properties` (which JSON lines also carry as
 * fields). Declared here, not taken from the logging library, so that the
 * library stays swappable in this one module.
 */
export interface Logger {
  /** Detail for finding a problem; off unless `--log-level debug`. */
  debug(message: string, properties?: Record<string, unknown>): void;
  /** What the hop does: links up, listeners started, periodic status. */
  info(message: string, properties?: Record<string, unknown>): void;
  /** Something went wrong that the hop handles (a refused peer, a lost connection). */
  warn(message: string, properties?: Record<string, unknown>): void;
  /** Something went wrong that the operator must look at. */
  error(message: string, properties?: Record<string, unknown>): void;
  /** A logger for a part of this one, under `<category>/<subcategory>`. */
  getChild(subcategory: string): Logger;
}

/** Longest value (in characters, after escaping) a text log line shows; a longer one is cut. */
export const maxLogValue = 1000;

/**
 * Characters a log line must not carry raw: C0 controls, DEL and C1 controls
 * (newlines forge lines, ESC and CSI drive terminals), the Unicode line and
 * paragraph separators, and the bidirectional overrides and isolates that
 * reorder what a terminal shows ("Trojan Source").
 */
function mustEscape(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029 ||
    (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

function escapeChar(c: number): string {
  if (c === 0x0a) return "\\n";
  if (c === 0x0d) return "\\r";
  if (c === 0x09) return "\\t";
  return c <= 0xff
    ? `\\x${c.toString(16).padStart(2, "0")}`
    : `\\u${c.toString(16).padStart(4, "0")}`;
}

/**
 * Text made safe for one log line: control characters, line separators and
 * bidirectional controls become escapes (`\n`, `\x1b`, `\u2028`), a lone
 * surrogate becomes `\udXXX`, and text longer than `max` characters after
 * escaping is cut with an ellipsis and its full length.
 */
export function escapeLogText(text: string, max: number = maxLogValue): string {
  let out = "";
  let start = 0; // first character of `text` not yet copied to `out`
  let width = 0; // length `out` will have once text[start, i) is copied
  let i = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let piece: string | null = null;
    let units = 1;
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = text.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) units = 2;
      else piece = `\\u${c.toString(16)}`;
    } else if (mustEscape(c)) {
      piece = escapeChar(c);
    }
    const add = piece === null ? units : piece.length;
    if (width + add > max) break;
    if (piece !== null) {
      out += text.slice(start, i) + piece;
      start = i + 1;
    }
    width += add;
    i += units - 1;
  }
  out += text.slice(start, i);
  return i < text.length ? `${out}… (${text.length} characters)` : out;
}

/** A value as the text formatter shows it: strings as they are, others inspected on one line; then escaped. */
function renderValue(v: unknown): string {
  const text = typeof v === "string"
    ? v
    : Deno.inspect(v, { colors: false, breakLength: Infinity, compact: true });
  return escapeLogText(text);
}

/**
 * JSON.stringify already escapes C0 controls, quotes and lone surrogates; this
 * also escapes DEL, C1, the line separators and bidirectional controls, which
 * it leaves raw (all of them can only occur inside JSON strings).
 */
function escapeJsonLine(line: string): string {
  let out = "";
  let start = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c < 0x7f || !mustEscape(c)) continue;
    out += line.slice(start, i) + `\\u${c.toString(16).padStart(4, "0")}`;
    start = i + 1;
  }
  return start === 0 ? line : out + line.slice(start);
}

/** The formatter of log lines in `format`: exported so tests can check what a line looks like. */
export function logFormatter(format: LogFormat): TextFormatter {
  if (format === "json") {
    const json = getJsonLinesFormatter();
    return (record) => escapeJsonLine(json(record));
  }
  return getTextFormatter({ timestamp: "date-time-tz", value: renderValue });
}

/** Configures logging for the process; safe to call again (tests). */
export async function setupLogging(
  options: { format: LogFormat; level: LogLevelName },
): Promise<void> {
  const formatter = logFormatter(options.format);
  await reset();
  await configure({
    reset: true,
    sinks: {
      stderr: getConsoleSink({
        formatter,
        // The console sink picks a console method per level; all of them go to stderr here.
        console: Object.assign(Object.create(console), {
          debug: console.error,
          info: console.error,
          log: console.error,
          warn: console.error,
        }) as NonNullable<ConsoleSinkOptions["console"]>,
      }),
    },
    loggers: [
      { category: ["hopgate"], lowestLevel: options.level as LogLevel, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** A logger under `hopgate/<category...>`. */
export function logger(...category: string[]): Logger {
  return getLogger(["hopgate", ...category]);
}

/**
 * True for the counts 1, 10, 100, …: how often a problem that repeats is
 * logged (a peer sending a million bad values writes six lines, not a
 * million), with the count growing in the lines that are written.
 */
export function worthLogging(n: number): boolean {
  while (n >= 10 && n % 10 === 0) n /= 10;
  return n === 1;
}
