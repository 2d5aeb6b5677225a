/**
 * Ranges over several `deno task bench` runs: reads the JSON files run_all.ts
 * wrote (by default every tests/bench/results/run_all-*.json, or the files
 * given) and prints, per figure, the number of runs and the min, median and
 * max measured, then each run's time, load average and the highest share of
 * CPU that other processes took in any of its phases, so that a figure quoted
 * from the README can be traced to the runs and the machine's state.
 *
 *     deno run -A tests/bench/ranges.ts [--since 2026-12-01T10:00] [file.json …]
 */
import { join } from "node:path";
import { formatTable } from "./_report.ts";
import { median } from "./_stats.ts";

interface Run {
  at: string;
  loadavg: { before: string; after: string };
  quick?: boolean;
  phases?: { phase: string; othersPct: number }[];
  figures: {
    figure: string;
    kind: string;
    target: number | null;
    measured: number | null;
    unit: string;
  }[];
}

const sinceAt = Deno.args.indexOf("--since");
const since = sinceAt >= 0 ? Deno.args[sinceAt + 1] ?? "" : "";
if (sinceAt >= 0 && Number.isNaN(Date.parse(since))) {
  console.error(`--since takes an ISO time such as 2026-12-01T09:30, not "${since}"`);
  Deno.exit(2);
}
let files = Deno.args.filter((a, i) => a.endsWith(".json") && i !== sinceAt + 1);
if (files.length === 0) {
  const dir = join(new URL(".", import.meta.url).pathname, "results");
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith("run_all-") && e.name.endsWith(".json")) files.push(join(dir, e.name));
  }
  files = files.sort();
}
const runs: Run[] = [];
for (const f of files) {
  const run = JSON.parse(await Deno.readTextFile(f)) as Run;
  if (run.at >= since && !run.quick) runs.push(run);
}
if (runs.length === 0) {
  console.error("No full run_all results found: run `deno task bench` first.");
  Deno.exit(1);
}

const show = (x: number, unit: string) =>
  `${x >= 100 ? Math.round(x).toLocaleString("en") : x.toFixed(2)} ${unit}`;
const byFigure = new Map<string, { values: number[]; unit: string; target: string }>();
for (const run of runs) {
  for (const f of run.figures) {
    if (f.measured === null) continue;
    const entry = byFigure.get(f.figure) ?? {
      values: [],
      unit: f.unit,
      target: f.kind === "info" || f.target === null ? "-" : `${f.kind} ${show(f.target, f.unit)}`,
    };
    entry.values.push(f.measured);
    byFigure.set(f.figure, entry);
  }
}
console.log(
  formatTable([
    ["figure", "target", "runs", "min", "median", "max"],
    ...[...byFigure].map(([figure, e]) => [
      figure,
      e.target,
      String(e.values.length),
      show(Math.min(...e.values), e.unit),
      show(median(e.values), e.unit),
      show(Math.max(...e.values), e.unit),
    ]),
  ]),
);
console.log(
  "\n" + formatTable([
    ["run", "load before → after", "others' CPU (highest phase)"],
    ...runs.map((r) => [
      r.at,
      `${r.loadavg.before} → ${r.loadavg.after}`,
      r.phases ? `${Math.max(...r.phases.map((p) => p.othersPct))}%` : "-",
    ]),
  ]),
);
