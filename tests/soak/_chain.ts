/**
 * The soak's chain, every hop under test its own process with a status
 * endpoint: a node-opcua PLC → plant1 (through a proxy that can cut the
 * link) → dmz ← it (through a proxy that can black-hole the link) →
 * mosquitto over TLS as Sparkplug B. The load and the point bursts come from
 * `line2`, a second plant hop in the soak's own process whose data set the
 * soak sets by hand; it pushes to the dmz over TLS like plant1. Three views
 * read what the chain holds: `obs` pulls the dmz's set, `ops` pulls it's set
 * (both in-process hops), and a Sparkplug subscriber folds the cloud's.
 */
import { join } from "node:path";
import { Hop, type Point, sleep, Status } from "../../core/mod.ts";
import { tunnelAdapters } from "../../tunnel/mod.ts";
import { chainCerts, hopConfig, LinkProxy, localHop, startHop, stopAll } from "../kit/hops.ts";
import { HandSource } from "../kit/hand_source.ts";
import { freePort, type Proc, runHopgate } from "../kit/helpers.ts";
import { Mosquitto, mqttTlsFlags, setupBroker } from "../kit/mosquitto.ts";
import { type Plc, startPlc, TestClient } from "../kit/opcua.ts";
import { counterPath, plcVariable, setpointPath } from "../fixtures/plc_values.ts";
import { Cloud } from "./_cloud.ts";

/** Heartbeat and link timeout of every hop of the soak. */
export const linkTimeoutMs = 1000;
const fast = ["--heartbeat", "200ms", "--link-timeout", `${linkTimeoutMs}ms`];

/** The hops under test, each a process of its own. */
export type HopName = "plant1" | "dmz" | "it";
export const hopNames: HopName[] = ["plant1", "dmz", "it"];

/** What the chain is made of. */
export interface ChainOptions {
  /** PLC variables besides its counter and setpoint. */
  plcCount: number;
  /** Points of line2 under steady load. */
  loadPoints: number;
  /** Updates per second line2 applies to them. */
  loadRate: number;
  /** How long the PLC may run before it exits by itself, s. */
  seconds: number;
}

/** The running chain; `close` stops every part, even after a failure. */
export class SoakChain {
  readonly dir: string;
  readonly options: ChainOptions;
  readonly ports = {
    dmz: freePort(),
    itListen: freePort(),
    status: { plant1: freePort(), dmz: freePort(), it: freePort() } as Record<HopName, number>,
  };
  readonly plantProxy: LinkProxy;
  readonly itProxy: LinkProxy;
  readonly broker: Mosquitto;
  plc!: Plc;
  procs: Record<HopName, Proc | null> = { plant1: null, dmz: null, it: null };
  /** Every process each hop has had, for the leak-warning check of their output. */
  readonly history: Proc[] = [];
  line2: { hop: Hop; source: HandSource } | null = null;
  obs: Awaited<ReturnType<typeof localHop>> | null = null;
  ops: Awaited<ReturnType<typeof localHop>> | null = null;
  cloud: Cloud | null = null;
  plcClient: TestClient | null = null;
  /** line2's point values: the load changes them, bursts add and remove them. */
  #loadTimer: ReturnType<typeof setInterval> | undefined;
  #loadTick = 0;
  loadUpdates = 0;
  /** Ids of the burst points now held by line2. */
  burst: string[] = [];
  #bursts = 0;

  private constructor(dir: string, options: ChainOptions, broker: Mosquitto) {
    this.dir = dir;
    this.options = options;
    this.broker = broker;
    this.plantProxy = new LinkProxy(this.ports.dmz);
    this.itProxy = new LinkProxy(this.ports.dmz);
  }

  /** Starts every part and waits until the data has reached the cloud. */
  static async start(dir: string, options: ChainOptions): Promise<SoakChain> {
    await chainCerts(dir, ["plant1", "dmz", "it", "ops", "obs", "line2"]);
    await Deno.mkdir(join(dir, "broker"));
    const broker = new Mosquitto(await setupBroker(join(dir, "broker")));
    const c = new SoakChain(dir, options, broker);
    try {
      await broker.start();
      c.cloud = await Cloud.connect(broker.setup.plainPort);
      c.plc = await c.#startPlc();
      c.plcClient = await TestClient.create(join(dir, "plc-client"), join(dir, "plc-unused"));
      await c.startHop("dmz");
      await c.startHop("it");
      await c.startHop("plant1");
      await c.#startLine2();
      c.obs = await localHop(dir, "obs", ["--pull", `dmz=127.0.0.1:${c.ports.dmz}`, ...fast]);
      c.ops = await localHop(dir, "ops", ["--pull", `it=127.0.0.1:${c.ports.itListen}`, ...fast]);
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  #startPlc(port?: number): Promise<Plc> {
    return startPlc({
      count: this.options.plcCount,
      pki: join(this.dir, "plc"),
      ...(port ? { port } : {}),
      extra: ["--seconds", String(this.options.seconds)],
    });
  }

  /** Kills the PLC and starts it again on the same port. */
  async restartPlc(): Promise<void> {
    await this.plc.proc.stop("SIGKILL");
    this.plc = await this.#startPlc(this.plc.port);
  }

  #flags(name: HopName): string[] {
    const status = ["--status-http", `127.0.0.1:${this.ports.status[name]}`, ...fast];
    if (name === "dmz") {
      return [
        "--listen",
        `127.0.0.1:${this.ports.dmz}`,
        "--peers",
        "plant1:push,line2:push,it:pull,obs:pull",
        ...status,
      ];
    }
    if (name === "it") {
      const s = this.broker.setup;
      return [
        "--pull",
        `dmz=127.0.0.1:${this.itProxy.port}`,
        "--listen",
        `127.0.0.1:${this.ports.itListen}`,
        "--peers",
        "ops:pull",
        ...mqttTlsFlags(s),
        ...status,
      ];
    }
    return [
      "--opcua",
      `plc=${this.plc.url}`,
      "--opcua-trust-unknown",
      "--opcua-sampling",
      "100ms",
      "--opcua-publishing",
      "100ms",
      "--push",
      `dmz=127.0.0.1:${this.plantProxy.port}`,
      ...status,
    ];
  }

  /** Starts hop `name` (again). */
  async startHop(name: HopName): Promise<Proc> {
    const p = await startHop(this.dir, name, this.#flags(name));
    this.procs[name] = p;
    this.history.push(p);
    return p;
  }

  /** Stops hop `name` with `signal`. */
  async stopHop(name: HopName, signal: Deno.Signal): Promise<void> {
    await this.procs[name]?.stop(signal);
  }

  /**
   * Renews hop `name`'s certificate from the chain's CA with `hopgate certs renew`
   * and sends the hop SIGHUP, which reloads it without a restart; resolves with
   * the number of reload lines the hop had logged before.
   */
  async renewCert(name: HopName): Promise<number> {
    const proc = this.procs[name];
    if (!proc) throw new Error(`Hop ${name} is not running`);
    const before = reloads(proc);
    const r = await runHopgate([
      "certs",
      "renew",
      name,
      "--ca-dir",
      join(this.dir, "ca"),
      "--out",
      join(this.dir, name, "certs"),
    ]);
    if (r.code !== 0) throw new Error(`hopgate certs renew ${name} failed: ${r.stderr}`);
    proc.child.kill("SIGHUP");
    return before;
  }

  /** How many certificate reloads hop `name` has logged (0 when it is not running). */
  reloads(name: HopName): number {
    const proc = this.procs[name];
    return proc ? reloads(proc) : 0;
  }

  async #startLine2(): Promise<void> {
    const { config } = hopConfig(this.dir, "line2", [
      "--push",
      `dmz=127.0.0.1:${this.ports.dmz}`,
      ...fast,
    ]);
    const source = new HandSource("gen", "gen");
    const hop = new Hop(config, [...tunnelAdapters(config), source]);
    await hop.start();
    this.line2 = { hop, source };
    for (let i = 0; i < this.options.loadPoints; i++) this.#set(loadId(i), i);
  }

  #set(id: string, value: number): void {
    this.line2!.source.apply({ id, value, type: "Double", status: Status.Good });
  }

  /** Steady load: `loadRate` updates a second over line2's load points, in 20 ms slices. */
  startLoad(): void {
    const { loadPoints, loadRate } = this.options;
    const perTick = Math.max(1, Math.round(loadRate / 50));
    this.#loadTimer = setInterval(() => {
      for (let k = 0; k < perTick; k++) {
        const n = this.#loadTick++;
        this.#set(loadId(n % loadPoints), n);
      }
      this.loadUpdates += perTick;
    }, 20);
  }

  stopLoad(): void {
    clearInterval(this.#loadTimer);
    this.#loadTimer = undefined;
  }

  /** A burst of `n` new points at line2. */
  addBurst(n: number): string[] {
    const batch = this.#bursts++;
    const ids = Array.from({ length: n }, (_, i) => `line2/gen/burst/n${batch}/b${i}`);
    for (let i = 0; i < n; i++) this.#set(ids[i]!, batch * 1e6 + i);
    this.burst.push(...ids);
    return ids;
  }

  /** Removes every burst point from line2 at once. */
  removeBurst(): string[] {
    const gone = this.burst;
    for (const id of gone) this.line2!.hop.store.remove(id);
    this.burst = [];
    return gone;
  }

  /** line2's own points now: the source of truth for them. */
  line2Points(): Point[] {
    return [...this.line2!.hop.store.values()].filter((p) => p.id.startsWith("line2/gen/"));
  }

  /** Point ids of every PLC variable as plant1 names them, with the PLC's browse paths. */
  plcPoints(): { id: string; path: string }[] {
    const paths = [
      ...Array.from({ length: this.options.plcCount }, (_, i) => plcVariable(i).path),
      counterPath,
      setpointPath,
    ];
    return paths.map((path) => ({ id: `plant1/plc/${path}`, path }));
  }

  /** Reads the PLC itself: status and value of every variable. */
  async readPlc() {
    const client = this.plcClient!;
    const { UserTokenType } = await import("node-opcua");
    await client.connect(this.plc.url, { type: UserTokenType.Anonymous });
    try {
      // The PLC simulator's variables are in namespace 1 (a hop's points in 2, the default).
      return await client.read(this.plcPoints().map((p) => p.path), 1);
    } finally {
      await client.disconnect();
    }
  }

  async close(): Promise<void> {
    this.stopLoad();
    await Promise.resolve(this.ops?.[Symbol.asyncDispose]()).catch(() => {});
    await Promise.resolve(this.obs?.[Symbol.asyncDispose]()).catch(() => {});
    await this.line2?.hop.stop("soak done").catch(() => {});
    await this.plcClient?.close().catch(() => {});
    await this.cloud?.close();
    await stopAll(this.procs.plant1, this.procs.it, this.procs.dmz, this.plc?.proc);
    await this.plantProxy.close();
    await this.itProxy.close();
    await this.broker.stop();
    await sleep(0);
  }
}

/** The id of line2's load point `i`. */
export function loadId(i: number): string {
  return `line2/gen/load/p${i}`;
}

/** The reload lines a hop logged: one per certificate set it took without a restart. */
function reloads(proc: Proc): number {
  return proc.lines.filter((l) => l.includes("Reloaded ")).length;
}
