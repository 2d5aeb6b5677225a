/**
 * The test kit's basics, for tests beside the code, cross-module tests and
 * benchmarks alike: waiting with a deadline, free ports, `deno` subprocesses,
 * temporary directories, and a hop's configuration from its flags as the
 * command line reads them.
 */
import "../../adapters/all.ts";
import { freePort } from "../../adapters/demo/mod.ts";
import { addHopOptions, Command } from "../../core/config/flags.ts";
import { givenConfig, type HopConfig, mainModule, resolveConfig, sleep } from "../../core/mod.ts";

export { freePort, mainModule };

/**
 * Polls `check` every `every` ms until it returns a value other than
 * undefined/false, or fails after `ms`.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 10_000,
  every = 20,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** Where and with which environment a `deno` subprocess runs. */
interface DenoRunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Only `env`, none of this process's environment. */
  clearEnv?: boolean;
}

/** `deno <args>` with its output piped and no input. */
function denoCommand(args: string[], options: DenoRunOptions): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.clearEnv ? { clearEnv: true } : {}),
  });
}

/** Runs `deno <args>` to completion, capturing output. */
export async function runDeno(args: string[], options: DenoRunOptions = {}) {
  const out = await denoCommand(args, options).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs the hopgate CLI with broad permissions (for commands that start no hop). */
export function runHopgate(args: string[], options: { cwd?: string } = {}) {
  return runDeno(["run", "-A", mainModule, ...args], options);
}

/** A running child process whose output lines are collected as they arrive. */
export class Proc {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  readonly done: Promise<Deno.CommandStatus>;
  #pumps: Promise<void>[] = [];

  constructor(args: string[], options: DenoRunOptions = {}) {
    this.child = denoCommand(args, options).spawn();
    this.#pumps.push(this.#pump(this.child.stdout), this.#pump(this.child.stderr));
    this.done = this.child.status;
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      for (const line of parts) this.lines.push(line);
    }
    if (rest) this.lines.push(rest);
  }

  /** Waits for an output line matching `re`. */
  waitForLine(re: RegExp, ms = 15_000): Promise<string> {
    return waitFor(`a line matching ${re}`, () => this.lines.find((l) => re.test(l)), ms);
  }

  /** Sends a signal (default SIGTERM) and waits for exit; safe to call twice. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch { /* already exited */ }
    const status = await this.done;
    await Promise.all(this.#pumps);
    return status;
  }

  /** All output so far, for failure messages. */
  output(): string {
    return this.lines.join("\n");
  }
}

/** A temporary directory, removed when the `await using` binding goes out of scope. */
export async function tempDir(
  prefix = "hopgate-test-",
): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/**
 * Flags and the validated configuration they give, resolving relative paths against `dir`.
 * The flags are parsed by the hop commands' own parser (core/config/flags.ts), as `hopgate run`
 * reads them; a hop without `--data-dir` keeps its data under the test's working directory.
 */
export function flagsConfig(dir: string, flags: string[]): { flags: string[]; config: HopConfig } {
  const command = addHopOptions(new Command("run"))
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .parse(flags, { from: "user" });
  const { layers } = givenConfig(command.opts(), dir);
  return { flags, config: resolveConfig(layers) };
}
