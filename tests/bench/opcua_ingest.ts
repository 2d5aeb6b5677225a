/**
 * OPC UA ingest benchmark: one plant hop under its derived permissions
 * reading a PLC whose every monitored item changes every `churn` ms, the hop
 * sampling and publishing at that period. The PLC is _fast_plc.ts, a
 * node-opcua server that answers Publish requests with pre-encoded
 * notifications, so that it costs little per change (a fraction of a core at
 * 1,000,000 changes/s) and the hop is what is measured. Per case: time to
 * `Connected` and its read and subscribe parts; the changes/s the PLC sent
 * (offered); the hop's ingested changes/s (median and range of its 1 s status
 * lines after a warm-up); the hop's CPU (% of one core), peak RSS and peak
 * anonymous memory; the PLC's CPU; other processes' CPU and the load average
 * (other jobs share the machine: say so when quoting the numbers). One PLC
 * serves the cases of one items × churn pair, one hop after the other.
 *
 * `--held` measures only what a quiet hop holds with 1,000 and 100,000 items
 * (measureOpcuaHeld): the fixed part and the part per item, without ingest.
 *
 * The hop runs in `hopEnvFor` (glibc's malloc as the systemd unit of
 * docs/deployment.md sets it); `--malloc-defaults` runs it without, as a
 * binary started by hand.
 *
 * `--check` also runs the PLC check (checkPlcValues): the hop must end up
 * holding every value the PLC last sent.
 *
 *   deno run -A tests/bench/opcua_ingest.ts [--items 10000,50000,100000] [--churn 1000,100]
 *     [--security SignAndEncrypt:Basic256Sha256,None] [--seconds 15] [--deno-flags="..."]
 *     [--hop-flags="--opcua-max-items 10000"] [--malloc-defaults] [--imports] [--check] [--held]
 *     [--json]
 *
 * --deno-flags sets HOPGATE_DENO_FLAGS for the hop (for example
 * `--deno-flags=--v8-flags=--max-semi-space-size=32`, which replaces the hop's own
 * V8 flags, or `--deno-flags="--cpu-prof --cpu-prof-dir=/tmp/prof"` for a profile);
 * values that start with `--` must follow an `=`, as node:util's parseArgs
 * takes them for options otherwise.
 */
import { join } from "node:path";
import { sleep } from "../../core/mod.ts";
import { addUser } from "../../adapters/opcua/opcua_users.ts";
import { freePort, Proc, runDeno, tempDir, waitFor } from "../kit/helpers.ts";
import { expectLine, startHop, stopHop, TestClient, testUser } from "../kit/opcua.ts";
import { cpuWindow, loadAverage, sampleProcess } from "../kit/machine.ts";
import { median } from "./_stats.ts";
import { listOf, scriptFlags, wholeNumber } from "./_args.ts";
import { opcuaSecurityChoices } from "../../adapters/opcua/mod.ts";

const fastPlc = new URL("./_fast_plc.ts", import.meta.url).pathname;

/** One case: monitored items, change period and the hop's security to the PLC. */
export interface IngestCase {
  items: number;
  churnMs: number;
  /** As `--opcua-security` takes it: `SignAndEncrypt:Basic256Sha256` or `None`. */
  security: string;
  /**
   * Runs the hop with glibc's malloc as it comes, as a binary started by hand,
   * rather than in `hopEnvFor` as the systemd unit and the demo run it.
   */
  mallocDefaults?: boolean;
}

/** What one case measured. */
export interface IngestResult extends IngestCase {
  /** Changes/s the PLC sent (median of its 1 s lines while measuring). */
  offeredPerS: number;
  /** The hop's 1 s status lines while measuring: changes applied per second. */
  ingested: { median: number; min: number; max: number; samples: number };
  /** From starting the hop to its `Connected` line, and that line's read and subscribe parts. */
  connectMs: number;
  readMs: number;
  subscribeMs: number;
  /** % of one core while measuring. */
  hopCpuPct: number;
  plcCpuPct: number;
  /** Busy CPU of the machine not accounted to the hop, the PLC or this process, % of one core. */
  othersCpuPct: number;
  hopPeakRssMb: number;
  /** Peak resident anonymous memory (RssAnon: without the executable's file pages). */
  hopPeakAnonMb: number;
  /** The memory part of the hop's last status line (RSS, heap, external). */
  hopMemory: string;
  /** The hop said its connection was lost while measuring (the first such line). */
  lost: string | null;
  load: { before: string; after: string };
}

const mb = (kb: number) => Math.round(kb / 1024);

/** Starts the PLC and waits until it listens. */
async function startFastPlc(
  dir: string,
  items: number,
  churnMs: number,
  stamps: number | "none" = 0,
): Promise<Proc> {
  const plc = new Proc([
    "run",
    "-A",
    fastPlc,
    "--port",
    String(freePort()),
    "--count",
    String(items),
    "--churn",
    String(churnMs),
    "--pki",
    join(dir, "plc"),
    `--stamps=${stamps}`,
  ]);
  try {
    await expectLine(plc, /PLC ready/, 180_000);
  } catch (e) {
    await plc.stop();
    throw e;
  }
  return plc;
}

const endpoint = (plc: Proc) =>
  /PLC ready (\S+)/.exec(plc.lines.find((l) => /PLC ready/.test(l))!)![1]!;

/** The hop's flags for reading `plc` with `security`, sampling and publishing every `churnMs`. */
function hopFlags(plc: Proc, c: IngestCase, data: string, extra: string[]): string[] {
  return [
    "--name",
    "plant1",
    "--opcua",
    `plc=${endpoint(plc)}`,
    "--opcua-trust-unknown",
    "--opcua-security",
    c.security,
    "--opcua-sampling",
    String(c.churnMs),
    "--opcua-publishing",
    String(c.churnMs),
    "--data-dir",
    data,
    "--status-interval",
    "1s",
    ...extra,
  ];
}

async function runCase(
  plc: Proc,
  dir: string,
  c: IngestCase,
  o: { seconds: number; warmupSeconds: number; hopFlags: string[] },
): Promise<IngestResult> {
  const before = loadAverage();
  const t0 = performance.now();
  const hop = startHop(
    hopFlags(plc, c, join(dir, `hop-${crypto.randomUUID()}`), o.hopFlags),
    dir,
    { mallocDefaults: c.mallocDefaults ?? false },
  );
  try {
    const line = await expectLine(
      hop,
      new RegExp(`Connected to opcua:plc .* ${c.items} variables, ${c.items} monitored`),
      300_000,
    );
    const connectMs = Math.round(performance.now() - t0);
    // Warm-up: the first seconds carry the young heap's growth.
    await sleep(o.warmupSeconds * 1000);
    const [from, plcFrom] = [hop.lines.length, plc.lines.length];
    const pids = { hop: hop.child.pid, plc: plc.child.pid, bench: Deno.pid };
    const window = cpuWindow(pids);
    const start = sampleProcess(pids.hop);
    let [rss, anon] = [start.rssKb, start.anonKb];
    const deadline = Date.now() + o.seconds * 1000;
    while (Date.now() < deadline) {
      await sleep(250);
      const s = sampleProcess(pids.hop);
      [rss, anon] = [Math.max(rss, s.rssKb), Math.max(anon, s.anonKb)];
    }
    const cpu = window.end();
    const rates = hop.lines.slice(from).map((l) => /Status: \d+ points, (\d+) updates\/s/.exec(l))
      .filter((m) => m !== null).map((m) => Number(m[1]));
    const sent = plc.lines.slice(plcFrom).map((l) => /PLC sent (\d+) changes\/s/.exec(l))
      .filter((m) => m !== null).map((m) => Number(m[1]));
    const memory = hop.lines.slice(from).findLast((l) => /memory: /.test(l));
    return {
      ...c,
      offeredPerS: median(sent),
      ingested: {
        median: median(rates),
        min: Math.min(...rates),
        max: Math.max(...rates),
        samples: rates.length,
      },
      connectMs,
      readMs: Number(/read in (\d+) ms/.exec(line)?.[1]),
      subscribeMs: Number(/subscribed in (\d+) ms/.exec(line)?.[1]),
      hopCpuPct: Math.round(cpu.pct.hop),
      plcCpuPct: Math.round(cpu.pct.plc),
      othersCpuPct: Math.round(cpu.othersPct),
      hopPeakRssMb: mb(rss),
      hopPeakAnonMb: mb(anon),
      hopMemory: memory?.replace(/^.*memory: /, "") ?? "?",
      lost: hop.lines.slice(from).find((l) => /lost or unreachable/.test(l)) ?? null,
      load: { before, after: loadAverage() },
    };
  } finally {
    await stopHop(hop, 30_000);
  }
}

/**
 * Runs `cases` (one PLC per items × churn pair, its cases one after the
 * other) and returns their figures; `onResult` sees each as it is done.
 */
export async function measureOpcuaIngest(
  cases: IngestCase[],
  options: {
    seconds?: number;
    warmupSeconds?: number;
    hopFlags?: string[];
    onResult?: (r: IngestResult) => void;
  } = {},
): Promise<IngestResult[]> {
  const o = {
    seconds: options.seconds ?? 15,
    warmupSeconds: options.warmupSeconds ?? 3,
    hopFlags: options.hopFlags ?? [],
  };
  const out: IngestResult[] = [];
  const pairs = [...new Set(cases.map((c) => `${c.items}×${c.churnMs}`))];
  for (const pair of pairs) {
    const group = cases.filter((c) => `${c.items}×${c.churnMs}` === pair);
    await using dir = await tempDir("hopgate-bench-opcua-");
    const plc = await startFastPlc(dir.path, group[0]!.items, group[0]!.churnMs);
    try {
      for (const c of group) {
        const r = await runCase(plc, dir.path, c, o);
        out.push(r);
        options.onResult?.(r);
      }
    } finally {
      await plc.stop();
    }
  }
  return out;
}

/** What measureOpcuaHeld found for one item count. */
export interface HeldResult {
  items: number;
  /** Connected, every item monitored, the values read: the hop quiet and its memory given back. */
  rssMb: number;
  anonMb: number;
  /**
   * The hop's memory release before the sample (`Subscribed to opcua:plc: gave back heap, …`
   * once subscribed, or `Quiet: …`), or null if none ran.
   */
  release: string | null;
}

/**
 * What an OPC UA plant hop holds, apart from ingest's working memory: a PLC
 * whose `items` values never change (`--churn 0`), the hop connected over
 * SignAndEncrypt, then quiet until it gave memory back (core/memory_release.ts,
 * after 3 quiet seconds; 20 s at most), sampled a second later. Two item
 * counts give the fixed part (node-opcua loaded, a session) and the part per item.
 */
export async function measureOpcuaHeld(items: number[]): Promise<HeldResult[]> {
  const out: HeldResult[] = [];
  for (const n of items) {
    await using dir = await tempDir("hopgate-bench-opcua-held-");
    const plc = await startFastPlc(dir.path, n, 0);
    const c = { items: n, churnMs: 1000, security: "SignAndEncrypt:Basic256Sha256" };
    const hop = startHop(hopFlags(plc, c, join(dir.path, "plant1"), []), dir.path);
    try {
      await expectLine(hop, new RegExp(`Connected to opcua:plc .* ${n} monitored`), 300_000);
      const from = hop.lines.length;
      const released = () =>
        hop.lines.slice(from).find((l) => /Quiet: gave back heap|Subscribed to \S+: /.test(l));
      await waitFor("the hop's memory release", () => released() !== undefined, 20_000)
        .catch(() => {});
      await sleep(1_000);
      const s = sampleProcess(hop.child.pid);
      const line = released();
      out.push({
        items: n,
        rssMb: mb(s.rssKb),
        anonMb: mb(s.anonKb),
        // The message, without the log line's time, level and category.
        release: line ? line.replace(/^.*?\[INF\] \S+: /, "") : null,
      });
    } finally {
      await stopHop(hop, 30_000);
      await plc.stop();
    }
  }
  return out;
}

/** What checkPlcValues found. */
export interface PlcCheck {
  items: number;
  /** The PLC's tick when its values were frozen. */
  tick: number;
  /** Variables whose value at the hop was not the PLC's last (up to 10, then "…"). */
  wrong: string[];
  /** From the freeze until the hop held every last value. */
  settledMs: number;
  /** How old the held values' timestamps were when read (read time − timestamp), ms. */
  ageMs: { min: number; max: number };
}

/**
 * The PLC's correctness, end to end: a hop reads `items` variables changing
 * every 100 ms over SignAndEncrypt for two seconds, then the PLC's values
 * are frozen and the hop, read through its own OPC UA server, must hold
 * every variable's last value (`tick × 1e6 + i` for D<i>) within 10 s.
 * A client handle sent for the wrong item, a wrong byte in the hand-encoded
 * notifications or changes that never arrive all fail it. `stamps` is the
 * PLC's `--stamps`: an offset of its timestamps, or `none` for changes
 * without any (the hop then stamps them on arrival); the values' age tells.
 */
export async function checkPlcValues(
  items = 2_000,
  stamps: number | "none" = 0,
): Promise<PlcCheck> {
  await using dir = await tempDir("hopgate-bench-opcua-check-");
  const data = join(dir.path, "plant1");
  await Deno.mkdir(data, { recursive: true });
  await addUser(join(data, "users.json"), "tester", "test-password");
  const plc = await startFastPlc(dir.path, items, 100, stamps);
  const client = await TestClient.create(join(dir.path, "client"), data);
  const serverPort = freePort();
  const c = { items, churnMs: 100, security: "SignAndEncrypt:Basic256Sha256" };
  const hop = startHop(
    hopFlags(plc, c, data, ["--opcua-server", `127.0.0.1:${serverPort}`]),
    dir.path,
  );
  try {
    await expectLine(hop, new RegExp(`Connected to opcua:plc .* ${items} monitored`), 120_000);
    await expectLine(hop, /OPC UA server listening/);
    await sleep(2_000);
    plc.child.kill("SIGUSR1");
    const frozen = await expectLine(plc, /PLC frozen at tick (\d+)/);
    const t0 = performance.now();
    const tick = Number(/tick (\d+)/.exec(frozen)![1]);
    await client.connect(`opc.tcp://127.0.0.1:${serverPort}/hopgate`, testUser);
    const ids = Array.from(
      { length: items },
      (_, i) => `plant1/plc/Plant/Line${Math.floor(i / 1000)}/D${i}`,
    );
    let wrong: string[] = [];
    let ages: number[] = [];
    const settled = await waitFor("the hop holding the PLC's last values", async () => {
      const read = await client.read(ids);
      const now = Date.now();
      ages = read.map((r) => now - (r.dv.sourceTimestamp?.getTime() ?? NaN));
      wrong = read.flatMap((r, i) =>
        r.typed?.value === tick * 1e6 + i && r.status === 0
          ? []
          : [`${ids[i]}: ${String(r.typed?.value)} (status ${r.status}), want ${tick * 1e6 + i}`]
      );
      return wrong.length === 0;
    }, 10_000).then(() => true, () => false);
    return {
      items,
      tick,
      wrong: settled ? [] : [...wrong.slice(0, 10), ...(wrong.length > 10 ? ["…"] : [])],
      settledMs: Math.round(performance.now() - t0),
      ageMs: { min: Math.min(...ages), max: Math.max(...ages) },
    };
  } finally {
    await client.close();
    await stopHop(hop, 30_000);
    await plc.stop();
  }
}

/** One line per case, for the log. */
export function formatResult(r: IngestResult): string {
  const k = (n: number) => Math.round(n).toLocaleString("en");
  return `${k(r.items)} items every ${r.churnMs} ms, ${r.security}${
    r.mallocDefaults ? ", malloc defaults" : ""
  }: PLC sent ${k(r.offeredPerS)}/s; hop ingested median ${k(r.ingested.median)}/s (${
    k(r.ingested.min)
  }–${k(r.ingested.max)}, ${r.ingested.samples} s); connected in ${k(r.connectMs)} ms (read ${
    k(r.readMs)
  }, subscribe ${
    k(r.subscribeMs)
  }); hop CPU ${r.hopCpuPct}%, peak RSS ${r.hopPeakRssMb} MB, anonymous ${r.hopPeakAnonMb} MB (last: ${r.hopMemory}); PLC CPU ${r.plcCpuPct}%; others ${r.othersCpuPct}%; load ${r.load.before} → ${r.load.after}${
    r.lost ? `; CONNECTION LOST: ${r.lost}` : ""
  }`;
}

if (import.meta.main) {
  const args = scriptFlags({
    items: { type: "string", default: "10000,50000,100000" },
    churn: { type: "string", default: "1000,100" },
    security: { type: "string", default: "SignAndEncrypt:Basic256Sha256,None" },
    seconds: { type: "string", default: "15" },
    "deno-flags": { type: "string" },
    "hop-flags": { type: "string", default: "" },
    imports: { type: "boolean", default: false },
    check: { type: "boolean", default: false },
    held: { type: "boolean", default: false },
    "malloc-defaults": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  });
  const list = (s: string) => s.split(",").map((x) => x.trim()).filter((x) => x);
  if (args["deno-flags"]) Deno.env.set("HOPGATE_DENO_FLAGS", args["deno-flags"]);
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
    }; load ${loadAverage()}`,
  );
  if (args.check) {
    const r = await checkPlcValues();
    console.log(
      `PLC check: ${r.items} items frozen at tick ${r.tick}: ${
        r.wrong.length === 0 ? `all held by the hop after ${r.settledMs} ms` : r.wrong.join("; ")
      }`,
    );
    if (r.wrong.length > 0) Deno.exitCode = 1;
  }
  if (args.held) {
    const [small, large] = await measureOpcuaHeld([1_000, 100_000]);
    for (const r of [small!, large!]) {
      console.log(
        `held, ${
          r.items.toLocaleString("en")
        } items quiet: RSS ${r.rssMb} MB, anonymous ${r.anonMb} MB (${
          r.release ?? "no memory release seen"
        })`,
      );
    }
    const perItem = (large!.anonMb - small!.anonMb) * 1024 * 1024 / 99_000;
    console.log(`per item: ${Math.round(perItem)} B anonymous; load ${loadAverage()}`);
    Deno.exit(Deno.exitCode ?? 0);
  }
  const cases: IngestCase[] = [];
  for (const items of list(args.items).map((x) => wholeNumber("--items", x, 1))) {
    for (const churnMs of list(args.churn).map((x) => wholeNumber("--churn", x, 1))) {
      for (const security of listOf("--security", args.security, opcuaSecurityChoices)) {
        cases.push({ items, churnMs, security, mallocDefaults: args["malloc-defaults"] });
      }
    }
  }
  const results = await measureOpcuaIngest(cases, {
    seconds: wholeNumber("--seconds", args.seconds, 4),
    hopFlags: list(args["hop-flags"].replaceAll(" ", ",")),
    onResult: (r) => console.log(formatResult(r)),
  });
  if (args.json) console.log(JSON.stringify(results));
}
