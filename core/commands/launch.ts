/**
 * Starting a hop in this process: logging, the sandbox check that refuses to
 * run with more permissions than needed, and the run loop.
 */
import type { Adapter } from "../adapter.ts";
import type { HopConfig } from "../config/mod.ts";
import { Hop } from "../hop.ts";
import { logger, setupLogging } from "../log.ts";
import { derivePermissions, describePermissions } from "../permissions.ts";
import { checkSandbox } from "../sandbox.ts";
import { warmUpTls } from "../tls_warmup.ts";

/** Exit code when the sandbox check refuses to start. */
export const exitSandboxRefused = 3;

/**
 * Runs a hop until SIGINT/SIGTERM. Returns the process exit code: 0 after a
 * graceful stop, {@link exitSandboxRefused} when permissions are wrong.
 */
export async function launchHop(
  config: HopConfig,
  makeAdapters: (config: HopConfig) => Adapter[],
  options: { configFile?: string | null; signal?: AbortSignal } = {},
): Promise<number> {
  await setupLogging({ format: config.logFormat, level: config.logLevel });
  const log = logger("hop");
  const needed = derivePermissions(
    config,
    options.configFile ? { configFile: options.configFile } : {},
  );
  const report = await checkSandbox(needed);
  log.info("Sandbox: {sandbox}", { sandbox: describePermissions(needed) });
  if (report.missing.length > 0) {
    log.error(
      "Missing permissions: {missing}; run with the flags that hopgate build --dry-run prints",
      { missing: report.missing.join(", ") },
    );
    return exitSandboxRefused;
  }
  if (report.excess.length > 0) {
    if (!config.allowBroadPermissions) {
      log.error(
        "Refusing to start with more permissions than this hop needs: {excess}. Run the binary made by hopgate build, or deno run with exactly the flags hopgate build --dry-run prints, or pass --allow-broad-permissions to accept the risk",
        { excess: report.excess.join(", ") },
      );
      return exitSandboxRefused;
    }
    log.warn(
      "RUNNING WITH BROAD PERMISSIONS ({excess}) because --allow-broad-permissions was given",
      {
        excess: report.excess.join(", "),
      },
    );
  }
  const hop = new Hop(config, makeAdapters(config));
  // Called first: it listens to SIGINT, SIGTERM and SIGHUP before its first await, so a signal
  // sent as soon as this line is seen (a supervisor's reload, a test) finds the hop listening.
  const running = hop.runUntilStopped(options.signal);
  log.info("Hop {name} starting with data directory {dataDir}", {
    name: config.name,
    dataDir: config.dataDir,
  });
  // Meanwhile, on a worker thread: what the first TLS handshake would pay on this one.
  void warmUpTls();
  try {
    await running;
  } catch (e) {
    // Failures only found when starting (an address in use, a key that does not match its
    // certificate) are the operator's to fix: one line, no stack trace.
    log.error("Hop {name} could not start: {error}", {
      name: config.name,
      error: (e as Error).message,
    });
    return 1;
  }
  log.info("Hop {name} stopped", { name: config.name });
  return 0;
}
