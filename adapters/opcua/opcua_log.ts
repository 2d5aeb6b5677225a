/**
 * node-opcua prints its own warnings and errors on stderr, including
 * base64 certificate dumps on every refused connection attempt. They go to
 * the hop's log instead: warnings at debug level (every failure an operator
 * must act on is reported by the adapters themselves), errors as warnings.
 */
import process from "node:process";
import { format } from "node:util";
import { setErrorLogger, setWarningLogger } from "node-opcua-client";
import { logger } from "../../core/mod.ts";

let routed = false;

/**
 * node-opcua-crypto sets OPENSSL_CONF around every private key it reads and
 * then restores the previous value; restoring "no value" assigns undefined to
 * process.env, which Node (and Deno's process) answer with a deprecation
 * warning on stderr. With a value there is nothing to warn about; Deno itself
 * reads no OpenSSL configuration. For any process that reads OPC UA keys: a
 * hop (through {@link routeLibraryLogs}) and the tests' clients.
 */
export function giveOpenSslConfAValue(): void {
  if (process.env.OPENSSL_CONF === undefined) process.env.OPENSSL_CONF = "/dev/null";
}

/** Routes node-opcua's log output into the hop's log, once per process. */
export function routeLibraryLogs(): void {
  if (routed) return;
  routed = true;
  giveOpenSslConfAValue();
  const log = logger("opcua", "node-opcua");
  // deno-lint-ignore no-control-regex -- strips the ANSI colours node-opcua adds
  const clean = (args: unknown[]) => format(...args).replace(/\x1b\[[0-9;]*m/g, "").trim();
  setWarningLogger((...args: unknown[]) => log.debug("{message}", { message: clean(args) }));
  setErrorLogger((...args: unknown[]) => log.warn("{message}", { message: clean(args) }));
}
