/**
 * Log setup, kept in one module so the logging library can be swapped
 * locally: human-readable lines on stderr, or JSON lines for machines.
 */
import {
  configure,
  type ConsoleSinkOptions,
  getConsoleSink,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogLevel,
  reset,
} from "@logtape/logtape";

/** Output format of log lines. */
export type LogFormat = "text" | "json";

/** Levels accepted by `--log-level`. */
export const logLevels = ["debug", "info", "warning", "error"] as const;

/** Configures logging for the process; safe to call again (tests). */
export async function setupLogging(
  options: { format: LogFormat; level: typeof logLevels[number] },
): Promise<void> {
  const formatter = options.format === "json" ? getJsonLinesFormatter() : getTextFormatter({
    timestamp: "date-time-tz",
    value: (v) => typeof v === "string" ? v : Deno.inspect(v),
  });
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

export type { Logger };
