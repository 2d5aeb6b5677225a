/**
 * OPC UA ingest benchmark: one PLC simulator with --items monitored items
 * (default 10,000 Doubles, all changing every --churn ms), one plant hop
 * under its derived permissions reading it over SignAndEncrypt. Prints the
 * hop's ingested value changes per second (from its status lines, median
 * after warm-up), its RSS, and node-opcua's import time and memory.
 *
 *   deno run -A tests/bench/opcua_ingest.ts [--items 10000] [--churn 100] [--seconds 20]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { sleep } from "../../core/mod.ts";
import { runDeno, tempDir } from "../kit/helpers.ts";
import { expectLine, startHop, startPlc, stopHop } from "../kit/opcua.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    items: { type: "string", default: "10000" },
    churn: { type: "string", default: "100" },
    seconds: { type: "string", default: "20" },
  },
});
const items = Number(args.items);

// Import cost, in a fresh process each.
for (const pkg of ["node-opcua-client", "node-opcua"]) {
  const r = await runDeno([
    "eval",
    `const r0 = Deno.memoryUsage().rss; const t0 = performance.now(); await import("${pkg}");` +
    `console.log(JSON.stringify({ importMs: Math.round(performance.now() - t0), rssMB: Math.round((Deno.memoryUsage().rss - r0) / 1e6) }))`,
  ], { cwd: new URL("../../", import.meta.url).pathname });
  console.log(`import ${pkg}: ${r.stdout.trim().split("\n").at(-1)}`);
}

await using dir = await tempDir("hopgate-bench-");
const plcProc = await startPlcChurning();
async function startPlcChurning() {
  // startPlc has no churn option: pass it through the count argument list.
  const plc = await startPlc({
    count: items,
    pki: join(dir.path, "plc"),
    extra: ["--churn", String(args.churn)],
  });
  return plc;
}
const hop = startHop([
  "--name",
  "plant1",
  "--opcua",
  `plc=${plcProc.url}`,
  "--opcua-trust-unknown",
  "--opcua-sampling",
  String(args.churn),
  "--opcua-publishing",
  String(args.churn),
  "--data-dir",
  join(dir.path, "plant1"),
  "--status-interval",
  "1s",
], dir.path);
try {
  const t0 = performance.now();
  await expectLine(hop, new RegExp(`Connected to opcua:plc .* ${items + 2} variables`), 120_000);
  console.log(
    `connected, browsed and subscribed ${items} items in ${Math.round(performance.now() - t0)} ms`,
  );
  const start = hop.lines.length;
  const cpu = async () => {
    const f = (await Deno.readTextFile(`/proc/${hop.child.pid}/stat`).catch(() => "")).split(
      ") ",
    )[1]
      ?.split(" ");
    return f ? Number(f[11]) + Number(f[12]) : NaN;
  };
  const cpu0 = await cpu();
  const t1 = performance.now();
  const deadline = Date.now() + Number(args.seconds) * 1000;
  while (Date.now() < deadline) await sleep(500);
  const rates = hop.lines.slice(start).map((l) => /Status: \d+ points, (\d+) updates\/s/.exec(l))
    .filter((m) => m !== null).map((m) => Number(m[1])).slice(3).sort((a, b) => a - b);
  const status = await Deno.readTextFile(`/proc/${hop.child.pid}/status`).catch(() => "");
  const rss = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  const cpuPct = Math.round((await cpu() - cpu0) / ((performance.now() - t1) / 1000));
  const offered = Math.round(items * 1000 / Number(args.churn));
  console.log(
    `offered ${offered} changes/s; hop ingested median ${
      rates[Math.floor(rates.length / 2)] ?? "?"
    } changes/s (min ${rates[0]}, max ${rates.at(-1)}, ${rates.length} samples); hop RSS ${
      rss ? Math.round(Number(rss) / 1024) : "?"
    } MB; hop CPU ${cpuPct}% of one core`,
  );
} finally {
  await stopHop(hop);
  await plcProc.proc.stop();
}
