/**
 * The long fuzzing run: the same properties as tunnel/frame_codec_fuzz_test.ts
 * and tunnel/link_fuzz_test.ts (tunnel/_fuzz_props.ts), with many more runs,
 * in batches of fresh seeds, printing each batch's seed before it starts so
 * that a failure, a hang or a crash can be replayed. Not part of `deno task test`.
 *
 *   deno run -A tests/fuzz/run.ts --runs 100000        # per property
 *   deno run -A tests/fuzz/run.ts --minutes 5          # round-robin until time is up
 *   deno run -A tests/fuzz/run.ts --only link --strict # the link's; fail on the known bugs too
 *   deno run -A tests/fuzz/run.ts --only "<name>" --seed S --path P   # replay a failure
 *
 * Exits 1 when a property failed (the others go on), 0 otherwise.
 */
import { parseArgs } from "node:util";
import {
  fastCheckVersion,
  fuzzProperties,
  type FuzzProperty,
  knownBugs,
  parseStrictness,
} from "../../tunnel/_fuzz_props.ts";

const usage = `Usage: deno run -A tests/fuzz/run.ts [options]
  --runs N       runs per property (default 20000 unless --minutes is given)
  --minutes M    run the properties round-robin for M minutes
  --batch N      runs per batch, each with its own seed (default 2000)
  --seed S       seed of the first batch (default: random); later batches derive theirs
  --path P       replay one counterexample (with --seed and --only)
  --only TEXT    only properties whose name contains TEXT, or of group codec or link (repeatable)
  --strict[=B]   fail on the known bugs too (all, or B: a comma-separated list of ${
  Object.keys(knownBugs).join(", ")
})
  --list         list the properties and known bugs`;

const { values: args } = parseArgs({
  // A bare `--strict` means all known bugs (parseArgs wants a value for a string option).
  args: Deno.args.map((a) => (a === "--strict" ? "--strict=all" : a)),
  options: {
    runs: { type: "string" },
    minutes: { type: "string" },
    batch: { type: "string" },
    seed: { type: "string" },
    path: { type: "string" },
    only: { type: "string", multiple: true },
    strict: { type: "string" },
    list: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
  allowPositionals: false,
  strict: true,
});

if (args.help) {
  console.log(usage);
  Deno.exit(0);
}
if (args.list) {
  for (const p of fuzzProperties) console.log(`${p.group}\t${p.testRuns} runs in tests\t${p.name}`);
  for (const [name, what] of Object.entries(knownBugs)) console.log(`known bug ${name}: ${what}`);
  Deno.exit(0);
}

function positive(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${what} must be a positive number`);
  return n;
}

const minutes = positive(args.minutes, "--minutes");
const runsPerProperty = positive(args.runs, "--runs") ?? (minutes === undefined ? 20000 : Infinity);
const batch = Math.floor(positive(args.batch, "--batch") ?? 2000);
const strict = parseStrictness(args.strict);
const firstSeed = args.seed !== undefined ? Number(args.seed) | 0 : (Math.random() * 2 ** 32) | 0;
const deadline = minutes === undefined ? Infinity : Date.now() + minutes * 60_000;
const only = args.only ?? [];
const chosen = fuzzProperties.filter((p) =>
  only.length === 0 || only.some((o) => p.group === o || p.name.includes(o))
);
if (chosen.length === 0) throw new Error(`No property matches ${only.join(", ")}`);

const started = Date.now();
const clock = () => {
  const s = Math.floor((Date.now() - started) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};
const out = (text: string) => Deno.stdout.writeSync(new TextEncoder().encode(text));
const strictText = strict === true
  ? "all known bugs fail"
  : strict === false
  ? `known bugs tolerated (${Object.keys(knownBugs).join(", ")})`
  : `failing on ${strict.join(", ")}`;

console.log(
  `fast-check ${fastCheckVersion}; ${chosen.length} properties; ${
    Number.isFinite(runsPerProperty) ? `${runsPerProperty} runs each` : `for ${minutes} min`
  } in batches of ${batch}; first seed ${firstSeed}; ${strictText}`,
);

if (args.path !== undefined) {
  // Replay exactly one counterexample.
  if (args.seed === undefined || chosen.length !== 1) {
    throw new Error("--path needs --seed and an --only that names one property");
  }
  const p = chosen[0]!;
  const o = p.check({ numRuns: 1, seed: firstSeed, path: args.path, strict });
  console.log(o.failed ? o.report : `${p.name}: the counterexample passes now`);
  Deno.exit(o.failed ? 1 : 0);
}

interface Progress {
  property: FuzzProperty;
  done: number;
  failed: boolean;
}
const progress: Progress[] = chosen.map((property) => ({ property, done: 0, failed: false }));
const failures: string[] = [];
let k = 0;

for (;;) {
  const open = progress.filter((p) => !p.failed && p.done < runsPerProperty);
  if (open.length === 0 || Date.now() >= deadline) break;
  for (const p of open) {
    if (Date.now() >= deadline) break;
    const numRuns = Math.min(batch, runsPerProperty - p.done);
    const seed = (firstSeed + Math.imul(k++, 0x9e3779b1)) | 0;
    out(`[${clock()}] ${p.property.name}: seed ${seed}, ${numRuns} runs … `);
    const t = performance.now();
    const o = p.property.check({ numRuns, seed, strict });
    const ms = Math.round(performance.now() - t);
    if (o.failed) {
      p.failed = true;
      out(`FAILED after ${ms} ms\n`);
      const replay = `deno run -A tests/fuzz/run.ts --only "${p.property.name}" --seed ${o.seed} ` +
        `--path ${o.path}${
          strict === false ? "" : ` --strict=${strict === true ? "all" : strict.join(",")}`
        }`;
      const text = `${p.property.name}: seed ${o.seed}, path ${o.path}\nReplay: ${replay}\n` +
        `   or: HOPGATE_FUZZ_SEED=${o.seed} HOPGATE_FUZZ_PATH=${o.path}${
          strict === false
            ? ""
            : ` HOPGATE_FUZZ_STRICT=${strict === true ? "all" : strict.join(",")}`
        } deno test -A ` +
        `tunnel/${p.property.group === "codec" ? "frame_codec" : "link"}_fuzz_test.ts ` +
        `--filter "${p.property.name}"\n${o.report}`;
      console.log(text);
      failures.push(text);
    } else {
      p.done += o.numRuns;
      out(`ok in ${ms} ms (${p.done} so far)\n`);
    }
  }
}

console.log(`\n[${clock()}] Done:`);
for (const p of progress) {
  console.log(`  ${p.failed ? "FAILED" : "ok    "} ${p.done} runs passed  ${p.property.name}`);
}
if (failures.length > 0) {
  console.log(`\n${failures.length} failed:\n\n${failures.join("\n\n")}`);
  Deno.exit(1);
}
