/**
 * node-opcua prints its own warnings and errors on stderr, including
 * base64 certificate dumps on every refused connection attempt. They go to
 * the hop's log instead: warnings at debug level (every failure an operator
 * must act on is reported by the adapters themselves), errors as warnings.
 */
import { format } from "node:util";
import { setErrorLogger, setWarningLogger } from "node-opcua-client";
import { logger } from "../../core/mod.ts";

let routed = false;

/** Routes node-opcua's log output into the hop's log, once per process. */
export function routeLibraryLogs(): void {
  if (routed) return;
  routed = true;
  const log = logger("opcua", "node-opcua");
  // deno-lint-ignore no-control-regex -- strips the ANSI colours node-opcua adds
  const clean = (args: unknown[]) => format(...args).replace(/\x1b\[[0-9;]*m/g, "").trim();
  setWarningLogger((...args: unknown[]) => log.debug("{message}", { message: clean(args) }));
  setErrorLogger((...args: unknown[]) => log.warn("{message}", { message: clean(args) }));
}
