/** Shared helpers of the cross-module tests: processes, ports, deadlines. */
import { mainModule, optionInfos, resolveConfig } from "../core/mod.ts";

export { mainModule };

/** Polls `check` until it returns a value other than undefined/false, or fails after `ms`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Runs `deno <args>` to completion, capturing output. */
export async function runDeno(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.env ? { env: options.env } : {}),
  }).output();
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

  constructor(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
    this.child = new Deno.Command(Deno.execPath(), {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.env ? { env: options.env } : {}),
    }).spawn();
    this.#pumps.push(this.#pump(this.child.stdout), this.#pump(this.child.stderr));
    this.done = this.child.status;
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      this.lines.push(...parts);
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
 * Flags as a flat list (`["--name", "x", "--sim", "5"]`) → raw configuration values, as the
 * command line reads them: repeatable flags accumulate, any other flag's last value wins.
 */
export function flagValues(flags: string[]): Record<string, unknown> {
  const repeatable = new Set(optionInfos().filter((o) => o.repeatable).map((o) => o.flag));
  const values: Record<string, unknown> = {};
  for (let i = 0; i < flags.length; i++) {
    const key = flags[i]!.slice(2);
    const next = flags[i + 1];
    if (next === undefined || next.startsWith("--")) values[key] = true;
    else {
      const prev = values[key];
      values[key] = prev === undefined || !repeatable.has(flags[i]!)
        ? next
        : [...(Array.isArray(prev) ? prev : [prev]), next];
      i++;
    }
  }
  return values;
}

/** Flags and the validated configuration they give, resolving relative paths against `dir`. */
export function flagsConfig(dir: string, flags: string[]) {
  return {
    flags,
    config: resolveConfig([{ label: null, baseDir: dir, values: flagValues(flags) }]),
  };
}
