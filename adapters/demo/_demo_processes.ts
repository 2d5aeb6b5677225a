/**
 * The process plumbing of `hopgate demo` (private to adapters/demo/): children
 * whose output lines are read as they come.
 */

/** A child process whose output lines go to a callback and a short history. */
export class Child {
  readonly name: string;
  readonly pid: number;
  readonly #proc: Deno.ChildProcess;
  readonly #tail: string[] = [];
  readonly #waiters = new Set<(line: string) => void>();
  readonly #pumps: Promise<void>[];
  readonly done: Promise<Deno.CommandStatus>;

  constructor(
    name: string,
    args: string[],
    onLine: (line: string, err: boolean) => void,
    env: Readonly<Record<string, string>> = {},
  ) {
    this.name = name;
    this.#proc = new Deno.Command(Deno.execPath(), {
      args,
      env: { ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.#proc.pid;
    this.done = this.#proc.status;
    const pump = async (s: ReadableStream<Uint8Array>, err: boolean) => {
      let rest = "";
      for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop()!;
        for (const l of parts) {
          this.#tail.push(l);
          if (this.#tail.length > 40) this.#tail.shift();
          for (const w of this.#waiters) w(l);
          onLine(l, err);
        }
      }
    };
    this.#pumps = [pump(this.#proc.stdout, false), pump(this.#proc.stderr, true)];
  }

  /** Resolves with the first line matching `re` (also one already printed); rejects on exit or after `ms`. */
  waitFor(re: RegExp, ms = 90_000): Promise<string> {
    const seen = this.#tail.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = (e: Error | null, line = "") => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (e) reject(e);
        else resolve(line);
      };
      const check = (l: string) => re.test(l) && done(null, l);
      const timer = setTimeout(
        () => done(new Error(`${this.name} did not print ${re} within ${ms} ms:\n${this.tail()}`)),
        ms,
      );
      this.#waiters.add(check);
      void this.done.then((s) =>
        done(new Error(`${this.name} exited with code ${s.code}:\n${this.tail()}`))
      );
    });
  }

  /** The last lines it printed, for error messages. */
  tail(): string {
    return this.#tail.map((l) => `  ${this.name}| ${l}`).join("\n");
  }

  /** SIGTERM, then SIGKILL after `ms`; resolves once it has exited and its output is read. */
  async stop(ms = 8000): Promise<void> {
    const kill = (sig: Deno.Signal) => {
      try {
        this.#proc.kill(sig);
      } catch { /* exited */ }
    };
    kill("SIGTERM");
    const timer = setTimeout(() => kill("SIGKILL"), ms);
    await this.done;
    clearTimeout(timer);
    await Promise.all(this.#pumps).catch(() => {});
  }
}
