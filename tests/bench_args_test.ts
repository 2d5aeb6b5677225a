/** The benchmark scripts refuse a bad flag with a message naming it and the flags they take (exit 2). */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { runDeno } from "./kit/helpers.ts";

const script = new URL("./bench/memory_per_point.ts", import.meta.url).pathname;

Deno.test("a benchmark script refuses an unknown flag, a missing value and a bad number, naming the flag", async () => {
  for (
    const [args, says] of [
      [["--help"], /Unknown option '--help'; this script takes --points, --hops/],
      [["--points"], /'--points <value>' argument missing; this script takes --points/],
      [["--points", "10k"], /--points takes a whole number of at least 1, not "10k"/],
    ] as const
  ) {
    const r = await runDeno(["run", "-A", script, ...args]);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert(says.test(r.stderr), `${args.join(" ")}: ${r.stderr}`);
    assert(!/\bat \S+:\d+:\d+/.test(r.stderr), `no stack trace: ${r.stderr}`);
  }
});
