/**
 * OPC UA ingest benchmark: one plant hop under its derived permissions
 * reading a PLC whose every monitored item changes every --churn ms. The PLC
 * is _lean_plc.ts, a node-opcua server that puts new values straight into
 * its monitored items' queues, so that it is not the bottleneck. For each
 * case of items × churn × security it prints: time to connect, read and
 * subscribe; the hop's ingested changes/s (median and range of its 1 s
 * status lines after a warm-up), the changes/s the PLC queued, the hop's CPU
 * (% of one core) and peak RSS, and the load average around the case (other
 * jobs share the machine: say so when quoting the numbers).
 *
 *   deno run -A tests/bench/opcua_ingest.ts [--items 10000,50000,100000] [--churn 1000,100]
 *     [--security SignAndEncrypt:Basic256Sha256,None] [--seconds 15] [--deno-flags "..."]
 *     [--hop-flags "--opcua-max-items 10000"] [--imports]
 *
 * --deno-flags sets HOPGATE_DENO_FLAGS for the hop (for example
 * `--v8-flags=--max-semi-space-size=32`, which replaces the hop's own V8 flags).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { sleep } from "../../core/mod.ts";
import { freePort, Proc, runDeno, tempDir } from "../kit/helpers.ts";
import { expectLine, startHop, stopHop } from "../kit/opcua.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    items: { type: "string", default: "10000,50000,100000" },
    churn: { type: "string", default: "1000,100" },
    security: { type: "string", default: "SignAndEncrypt:Basic256Sha256,None" },
    seconds: { type: "string", default: "15" },
    "deno-flags": { type: "string" },
    "hop-flags": { type: "string", default: "" },
    imports: { type: "boolean", default: false },
  },
});
const list = (s: string) => s.split(",").map((x) => x.trim()).filter((x) => x);
if (args["deno-flags"]) Deno.env.set("HOPGATE_DENO_FLAGS", args["deno-flags"]);

const leanPlc = new URL("./_lean_plc.ts", import.meta.url).pathname;

/** User + system CPU ticks (1/100 s) and RSS (MB) of a process, from /proc. */
async function sample(pid: number): Promise<{ ticks: number; rssMB: number }> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  const f = stat.split(") ")[1]?.split(" ");
  const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  const rss = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return {
    ticks: f ? Number(f[11]) + Number(f[12]) : NaN,
    rssMB: rss ? Math.round(Number(rss) / 1024) : NaN,
  };
}

async function loadAverage(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

interface CaseResult {
  items: number;
  churn: number;
  security: string;
  connectMs: number;
  readMs: number;
  subscribeMs: number;
  ingested: { median: number; min: number; max: number; samples: number };
  plcQueued: number;
  hopCpu: number;
  plcCpu: number;
  hopRssMB: number;
  /** The hop's last status line's memory part (RSS, heap, external). */
  memory: string;
  load: string;
}

async function runCase(items: number, churn: number, security: string): Promise<CaseResult> {
  await using dir = await tempDir("hopgate-bench-");
  const load0 = await loadAverage();
  const port = freePort();
  const plc = new Proc([
    "run",
    "-A",
    leanPlc,
    "--port",
    String(port),
    "--count",
    String(items),
    "--churn",
    String(churn),
    "--pki",
    join(dir.path, "plc"),
  ]);
  await expectLine(plc, /PLC ready/, 180_000);
  const t0 = performance.now();
  const hop = startHop([
    "--name",
    "plant1",
    "--opcua",
    `plc=opc.tcp://127.0.0.1:${port}/plc`,
    "--opcua-trust-unknown",
    "--opcua-security",
    security,
    "--opcua-sampling",
    String(churn),
    "--opcua-publishing",
    String(churn),
    "--data-dir",
    join(dir.path, "plant1"),
    "--status-interval",
    "1s",
    ...list(args["hop-flags"].replaceAll(" ", ",")),
  ], dir.path);
  try {
    const line = await expectLine(
      hop,
      new RegExp(`Connected to opcua:plc .* ${items} variables, ${items} monitored`),
      300_000,
    );
    const connectMs = Math.round(performance.now() - t0);
    const readMs = Number(/read in (\d+) ms/.exec(line)?.[1]);
    const subscribeMs = Number(/subscribed in (\d+) ms/.exec(line)?.[1]);
    // Warm-up: the first seconds carry the initial values and the young heap's growth.
    await sleep(3_000);
    const from = hop.lines.length;
    const plcFrom = plc.lines.length;
    const h0 = await sample(hop.child.pid);
    const p0 = await sample(plc.child.pid);
    const t1 = performance.now();
    let rss = h0.rssMB;
    const deadline = Date.now() + Number(args.seconds) * 1000;
    while (Date.now() < deadline) {
      await sleep(500);
      rss = Math.max(rss, (await sample(hop.child.pid)).rssMB);
    }
    const secs = (performance.now() - t1) / 1000;
    const h1 = await sample(hop.child.pid);
    const p1 = await sample(plc.child.pid);
    const rates = hop.lines.slice(from).map((l) => /Status: \d+ points, (\d+) updates\/s/.exec(l))
      .filter((m) => m !== null).map((m) => Number(m[1]));
    const queued = plc.lines.slice(plcFrom).map((l) => /PLC queued (\d+) changes\/s/.exec(l))
      .filter((m) => m !== null).map((m) => Number(m[1]));
    const memory = hop.lines.slice(from).findLast((l) => /memory: /.test(l))?.replace(
      /^.*memory: /,
      "",
    );
    const lost = hop.lines.slice(from).filter((l) => /lost or unreachable/.test(l));
    if (lost.length > 0) console.log(`  (connection lost during the measurement: ${lost[0]})`);
    return {
      items,
      churn,
      security,
      connectMs,
      readMs,
      subscribeMs,
      ingested: {
        median: median(rates),
        min: Math.min(...rates.slice(0, 1000)),
        max: Math.max(...rates.slice(0, 1000)),
        samples: rates.length,
      },
      plcQueued: median(queued),
      hopCpu: Math.round((h1.ticks - h0.ticks) / secs),
      plcCpu: Math.round((p1.ticks - p0.ticks) / secs),
      hopRssMB: rss,
      memory: memory ?? "?",
      load: `${load0} → ${await loadAverage()}`,
    };
  } finally {
    await stopHop(hop, 30_000);
    await plc.stop();
  }
}

if (args.imports) {
  // Import cost, in a fresh process each.
  for (const pkg of ["node-opcua-client", "node-opcua"]) {
    const r = await runDeno([
      "eval",
      `const r0 = Deno.memoryUsage().rss; const t0 = performance.now(); await import("${pkg}");` +
      `console.log(JSON.stringify({ importMs: Math.round(performance.now() - t0), rssMB: Math.round((Deno.memoryUsage().rss - r0) / 1e6) }))`,
    ], { cwd: new URL("../../", import.meta.url).pathname });
    console.log(`import ${pkg}: ${r.stdout.trim().split("\n").at(-1)}`);
  }
}

console.log(
  `hop deno flags: ${Deno.env.get("HOPGATE_DENO_FLAGS") ?? "(the hop's own)"}; ${
    new Date().toISOString()
  }`,
);
for (const items of list(args.items).map(Number)) {
  for (const churn of list(args.churn).map(Number)) {
    for (const security of list(args.security)) {
      const r = await runCase(items, churn, security);
      const offered = Math.round(items * 1000 / churn);
      console.log(
        `${items} items every ${churn} ms, ${security}: offered ${offered}/s, PLC queued ${r.plcQueued}/s; ` +
          `hop ingested median ${r.ingested.median}/s (${r.ingested.min}–${r.ingested.max}, ${r.ingested.samples} s); ` +
          `connected in ${r.connectMs} ms (read ${r.readMs}, subscribe ${r.subscribeMs}); ` +
          `hop CPU ${r.hopCpu}%, peak RSS ${r.hopRssMB} MB (last: ${r.memory}); PLC CPU ${r.plcCpu}%; load ${r.load}`,
      );
    }
  }
}
