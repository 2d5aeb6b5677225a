/**
 * Hops for tests and benchmarks: certificates made at test time, hops as
 * subprocesses under their derived permissions (the one way tests start a
 * hop process), an in-process hop that pulls a mirror for inspection, and
 * the loopback proxy (the demo's, adapters/demo/link_proxy.ts) that can
 * black-hole or cut a link.
 */
import { join } from "node:path";
import {
  type Adapter,
  Hop,
  type HopConfig,
  hopEnvFor,
  hopRunArgs,
  initCa,
  issueHopCert,
  sameValue,
  severity,
  type StoredPoint,
} from "../../core/mod.ts";
import { simPoint, simValue } from "../../adapters/sim/mod.ts";
import { tunnelAdapters } from "../../tunnel/mod.ts";
import { flagsConfig, Proc, waitFor } from "./helpers.ts";

export { LinkProxy, type LinkState } from "../../adapters/demo/mod.ts";

/** Makes the chain's CA in `<dir>/ca` and each hop's certificate in `<dir>/<hop>/certs`. */
export async function chainCerts(dir: string, hops: string[]): Promise<void> {
  const caDir = join(dir, "ca");
  await initCa(caDir);
  for (const hop of hops) await issueHopCert(hop, { caDir, outDir: join(dir, hop, "certs") });
}

/** The configuration of hop `name` whose data directory is `<dir>/<name>`. */
export function hopConfig(
  dir: string,
  name: string,
  flags: string[],
): { flags: string[]; config: HopConfig } {
  const all = ["--name", name, "--data-dir", join(dir, name), ...flags];
  return flagsConfig(dir, all);
}

/**
 * Spawns a hop with `flags` (relative paths resolved against `dir`) as its own
 * process with exactly its derived permissions, without waiting for it.
 * `HOPGATE_DENO_FLAGS` (space-separated) adds runtime flags, for profiling
 * benchmarks: `--cpu-prof --cpu-prof-dir=/tmp/prof` or `--v8-flags=...` (which replaces the
 * hop's own V8 settings, `hopV8FlagsFor`). The hop runs in {@link hopEnvFor}, as the
 * systemd unit of docs/deployment.md runs it, unless `mallocDefaults`.
 */
export function spawnHop(
  dir: string,
  flags: string[],
  options: { mallocDefaults?: boolean } = {},
): Proc {
  const { config } = flagsConfig(dir, flags);
  const extra = Deno.env.get("HOPGATE_DENO_FLAGS")?.split(" ").filter((f) => f) ?? [];
  // V8 flags given here replace the hop's own (Deno would take only one --v8-flags).
  const replace = extra.some((f) => f.startsWith("--v8-flags"));
  const [run, ...rest] = hopRunArgs(config, flags).filter((a) =>
    !(replace && a.startsWith("--v8-flags="))
  );
  return new Proc(
    [run!, ...extra, ...rest],
    hopEnvironment(config, options.mallocDefaults ?? false),
  );
}

/**
 * A hop's environment as deployed (with {@link hopEnvFor}), or, with
 * `mallocDefaults`, as a binary started by hand: this process's environment
 * without those variables.
 */
function hopEnvironment(config: HopConfig, mallocDefaults: boolean) {
  const deployed = hopEnvFor(config);
  if (!mallocDefaults) return { env: deployed };
  const env = Deno.env.toObject();
  for (const k of Object.keys(deployed)) delete env[k];
  return { env, clearEnv: true };
}

/**
 * Starts hop `name` (data in `<dir>/<name>`, quiet unless `--status-interval` is given)
 * with {@linkcode spawnHop} and waits until it listens or, without `--listen`, starts.
 */
export async function startHop(dir: string, name: string, flags: string[]): Promise<Proc> {
  const quiet = flags.includes("--status-interval") ? [] : ["--status-interval", "0"];
  const all = ["--name", name, "--data-dir", join(dir, name), ...quiet, ...flags];
  const proc = spawnHop(dir, all);
  try {
    await proc.waitForLine(flags.includes("--listen") ? /Listening on/ : /Hop \S+ starting/);
  } catch (e) {
    await proc.stop();
    throw new Error(`${name} did not start: ${(e as Error).message}\n${proc.output()}`);
  }
  return proc;
}

/** Starts relay hop `dmz`, listening on 127.0.0.1:`port` for the hops in `peers`. */
export function startDmz(dir: string, port: number, peers: string, extra: string[] = []) {
  return startHop(dir, "dmz", ["--listen", `127.0.0.1:${port}`, "--peers", peers, ...extra]);
}

/** Starts hop `it`, pulling from the dmz on `dmzPort` and listening on `port` for `peers`. */
export function startIt(
  dir: string,
  dmzPort: number,
  port: number,
  peers: string,
  extra: string[] = [],
) {
  return startHop(dir, "it", [
    "--pull",
    `dmz=127.0.0.1:${dmzPort}`,
    "--listen",
    `127.0.0.1:${port}`,
    "--peers",
    peers,
    ...extra,
  ]);
}

/** An in-process hop (tunnel only) whose store the test inspects. */
export async function localHop(
  dir: string,
  name: string,
  flags: string[],
): Promise<{ hop: Hop; adapters: Adapter[] } & AsyncDisposable> {
  const { config } = hopConfig(dir, name, flags);
  const adapters = tunnelAdapters(config);
  const hop = new Hop(config, adapters);
  await hop.start();
  return { hop, adapters, [Symbol.asyncDispose]: () => hop.stop("test done") };
}

/** Stops every process given, even when some fail. */
export async function stopAll(...procs: (Proc | null | undefined)[]): Promise<void> {
  await Promise.all(procs.map((p) => p?.stop().catch(() => {})));
}

/** The points of `store`-like iterables whose id starts with `prefix`, sorted by id. */
export function pointsOf(points: Iterable<StoredPoint>, prefix: string): StoredPoint[] {
  return [...points].filter((p) => p.id.startsWith(prefix)).sort((a, b) =>
    a.id < b.id ? -1 : a.id > b.id ? 1 : 0
  );
}

/** Waits until `count` points under `prefix` are held, all of the given severity. */
export function waitForPoints(
  hop: Hop,
  prefix: string,
  count: number,
  want: "good" | "uncertain" | "bad",
  ms = 10_000,
): Promise<StoredPoint[]> {
  return waitFor(`${count} ${want} points under ${prefix} at ${hop.config.name}`, () => {
    const ps = pointsOf(hop.store.values(), prefix);
    return ps.length === count && ps.every((p) => severity(p.status) === want) ? ps : undefined;
  }, ms);
}

/**
 * Checks that `points` are exactly simulator points of hop `hop`: every one of
 * the `count` ids present with its type, a value the simulator gives that point
 * at some change number below `maxChanges`, and the hop path `hops`.
 */
export function assertSimMirror(
  points: StoredPoint[],
  o: { hop: string; seed: number; count: number; hops: string[]; maxChanges?: number },
): void {
  const problems: string[] = [];
  if (points.length !== o.count) problems.push(`${points.length} points, not ${o.count}`);
  for (const p of points) {
    const i = Number(p.id.split("/").at(-1));
    const want = simPoint(o.hop, i);
    if (p.id !== want.id || p.type !== want.type) problems.push(`${p.id} is not ${want.id}`);
    let ok = false;
    for (let n = 0; n < (o.maxChanges ?? 50) && !ok; n++) {
      ok = sameValue(simValue(o.seed, i, n), p.value);
    }
    if (!ok) problems.push(`${p.id} = ${String(p.value)} is no value of the simulator`);
    if (p.hops.join(">") !== o.hops.join(">")) problems.push(`${p.id} came via ${p.hops}`);
    if (want.type === "Int64" && typeof p.value !== "bigint") {
      problems.push(`${p.id} lost its bigint`);
    }
    if (problems.length > 5) break;
  }
  if (problems.length) throw new Error(`Mirror differs from the source: ${problems.join("; ")}`);
}
