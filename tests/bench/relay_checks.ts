/**
 * What the zero-trust checks of received points (roles, origins, value
 * checks, limits) cost the relay's hot path: the in-memory relay benchmark
 * (tests/bench/relay_bench.ts) run alternately on this tree and on a baseline
 * commit without the checks, checked out as a temporary git worktree.
 *
 *     deno run -A tests/bench/relay_checks.ts [--base <commit>] [--runs 3]
 *
 * Prints both medians and their ratio; never fails for being slow.
 */
import { fileURLToPath } from "node:url";
import { median } from "./_stats.ts";

/** The last commit before received points were checked (protocol 3 relay). */
export const checksBaseline = "eb6814f";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** One run of relay_bench.ts in `cwd`: its median updates/s. */
async function relayRun(cwd: string): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tests/bench/relay_bench.ts"],
    cwd,
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const m = /median ([\d.]+) M updates\/s/.exec(text);
  if (!m) throw new Error(`relay_bench.ts printed no median in ${cwd}: ${text.slice(0, 300)}`);
  return Number(m[1]) * 1e6;
}

async function git(args: string[]): Promise<void> {
  const r = await new Deno.Command("git", { args, cwd: root, stdout: "null", stderr: "piped" })
    .output();
  if (!r.success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

/** Alternates baseline and current runs; returns both medians of medians and their ratio. */
export async function measureChecks(
  options: { base?: string; runs?: number } = {},
): Promise<{ base: string; baselinePerS: number; checkedPerS: number; ratio: number }> {
  const base = options.base ?? checksBaseline;
  const runs = options.runs ?? 3;
  const dir = await Deno.makeTempDir({ prefix: "hopgate-baseline-" });
  await git(["worktree", "add", "--detach", "--force", dir, base]);
  try {
    const before: number[] = [], after: number[] = [];
    for (let i = 0; i < runs; i++) {
      before.push(await relayRun(dir));
      after.push(await relayRun(root));
    }
    const baselinePerS = median(before), checkedPerS = median(after);
    return { base, baselinePerS, checkedPerS, ratio: checkedPerS / baselinePerS };
  } finally {
    await git(["worktree", "remove", "--force", dir]).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const at = (flag: string) => {
    const i = Deno.args.indexOf(flag);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const base = at("--base");
  const runs = at("--runs");
  const r = await measureChecks({
    ...(base ? { base } : {}),
    ...(runs ? { runs: Number(runs) } : {}),
  });
  const m = (x: number) => `${(x / 1e6).toFixed(2)} M updates/s`;
  console.log(
    `relay hot path: ${m(r.baselinePerS)} without the checks (${r.base}), ${
      m(r.checkedPerS)
    } with them: ratio ${r.ratio.toFixed(2)}`,
  );
}
