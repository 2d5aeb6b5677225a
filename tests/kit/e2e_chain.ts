/**
 * The whole chain for the end-to-end tests, every part its own process: a
 * node-opcua PLC, plant1 (reads it, pushes through a proxy that can black-hole
 * the link) → dmz ← it (pulls, bridges to mosquitto over TLS with a client
 * certificate as Sparkplug B, serves OPC UA), and three observers of the cloud
 * side: an independent Sparkplug subscriber, an OPC UA client of the it hop,
 * and an in-process hop `ops` pulling it's mirror (statuses with causes).
 */
import { join } from "node:path";
import { UserTokenType } from "node-opcua";
import { addUser } from "../../adapters/opcua/opcua_users.ts";
import { hopgateType, type InMetric, metricValue } from "../../adapters/mqtt/sparkplug_codec.ts";
import type { DataType, Hop, Value } from "../../core/mod.ts";
import { chainCerts, LinkProxy, localHop, startHop, stopAll } from "./hops.ts";
import { freePort, type Proc, waitFor } from "./helpers.ts";
import { Mosquitto, mqttTlsFlags, setupBroker } from "./mosquitto.ts";
import { Observer, type Seen } from "./observer.ts";
import { expectLine, type Plc, startPlc, TestClient, testUser } from "./opcua.ts";
import { counterPath, plcVariable, setpointPath } from "../fixtures/plc_values.ts";

/** Heartbeat and link timeout of every hop in the e2e chain. */
export const linkTimeoutMs = 1000;
const fast = ["--heartbeat", "200ms", "--link-timeout", `${linkTimeoutMs}ms`];

/** The Sparkplug device of the PLC's points as the it hop publishes them. */
export const plcDevice = "plant1:plc";
const spPrefix = "spBv1.0/hopgate";

/** One metric of a Sparkplug device as the cloud last saw it. */
export interface CloudMetric {
  type: DataType | undefined;
  value: Value;
  /** Sparkplug Quality (192 good, 64 uncertain, 0 bad); a metric without the property is good. */
  quality: number;
}

/** A Sparkplug device as a subscriber reconstructs it from births, data and deaths. */
export interface DeviceView {
  alive: boolean;
  births: number;
  deaths: number;
  metrics: Map<string, CloudMetric>;
  byAlias: Map<bigint, string>;
  /** DDATA that arrived while the device was dead (must never happen). */
  dataWhileDead: number;
}

/** Folds the messages of `device` on edge node `node` seen from index `from` into its state. */
export function deviceView(seen: Seen[], node: string, device: string, from = 0): DeviceView {
  const v: DeviceView = {
    alive: false,
    births: 0,
    deaths: 0,
    metrics: new Map(),
    byAlias: new Map(),
    dataWhileDead: 0,
  };
  const metric = (m: InMetric, type: DataType | undefined): CloudMetric => ({
    type,
    value: metricValue(m, type),
    quality: typeof m.properties.Quality === "number" ? m.properties.Quality : 192,
  });
  for (let i = from; i < seen.length; i++) {
    const s = seen[i]!;
    const [, , kind, n, d] = s.topic.split("/");
    if (n !== node || !s.sp) continue;
    if (kind === "NDEATH") v.alive = false;
    if (d !== device) continue;
    if (kind === "DBIRTH") {
      v.alive = true;
      v.births++;
      v.metrics.clear();
      for (const m of s.sp.metrics) {
        v.byAlias.set(m.alias!, m.name!);
        v.metrics.set(m.name!, metric(m, hopgateType(m.datatype!)));
      }
    } else if (kind === "DDATA") {
      if (!v.alive) v.dataWhileDead++;
      for (const m of s.sp.metrics) {
        const name = v.byAlias.get(m.alias!);
        if (name === undefined) continue;
        v.metrics.set(name, metric(m, v.metrics.get(name)?.type));
      }
    } else if (kind === "DDEATH") {
      v.alive = false;
      v.deaths++;
    }
  }
  return v;
}

/** Options of the e2e chain. */
export interface E2eOptions {
  /** Variables of mixed types on the PLC besides its counter and setpoint. */
  count: number;
  /** `--writable` of each hop (none when absent). */
  writable?: { plant1?: string; dmz?: string; it?: string };
}

/** The running chain; `close` stops everything, even after a failure. */
export class E2eChain {
  readonly dir: string;
  readonly count: number;
  readonly proxy: LinkProxy;
  readonly broker: Mosquitto;
  plc!: Plc;
  plant: Proc | null = null;
  dmz: Proc | null = null;
  it: Proc | null = null;
  observer: Observer | null = null;
  /** OPC UA client of the it hop's server. */
  itClient!: TestClient;
  /** OPC UA client of the PLC itself (connects for each read). */
  plcClient!: TestClient;
  ops: (Awaited<ReturnType<typeof localHop>>) | null = null;
  readonly ports = { dmz: freePort(), itListen: freePort(), itOpcua: freePort() };
  #options: E2eOptions;

  private constructor(dir: string, options: E2eOptions, broker: Mosquitto) {
    this.dir = dir;
    this.count = options.count;
    this.#options = options;
    this.broker = broker;
    this.proxy = new LinkProxy(this.ports.dmz);
  }

  /** Starts broker, PLC, dmz, it, plant1 and the observers, and waits for the data at the cloud. */
  static async start(dir: string, options: E2eOptions): Promise<E2eChain> {
    await chainCerts(dir, ["plant1", "dmz", "it", "ops"]);
    await Deno.mkdir(join(dir, "broker"));
    const broker = new Mosquitto(await setupBroker(join(dir, "broker")));
    const c = new E2eChain(dir, options, broker);
    try {
      await broker.start();
      c.observer = await Observer.connect(broker.setup.plainPort, [`${spPrefix}/#`]);
      c.plc = await startPlc({ count: options.count, pki: join(dir, "plc") });
      await addUser(join(dir, "it", "users.json"), "tester", "test-password");
      c.itClient = await TestClient.create(join(dir, "it-client"), join(dir, "it"));
      c.plcClient = await TestClient.create(
        join(dir, "plc-client"),
        join(dir, "plc-client-unused"),
      );
      c.dmz = await c.startDmz();
      c.it = await startHop(dir, "it", c.itFlags());
      await expectLine(c.it, /OPC UA server listening/);
      c.plant = await c.startPlant();
      c.ops = await localHop(dir, "ops", ["--pull", `it=127.0.0.1:${c.ports.itListen}`, ...fast]);
      await c.itClient.connect(`opc.tcp://127.0.0.1:${c.ports.itOpcua}/hopgate`, testUser);
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  #writable(hop: "plant1" | "dmz" | "it"): string[] {
    const w = this.#options.writable?.[hop];
    return w ? ["--writable", w] : [];
  }

  /** Starts the dmz hop (again) on its port. */
  startDmz(): Promise<Proc> {
    return startHop(this.dir, "dmz", [
      "--listen",
      `127.0.0.1:${this.ports.dmz}`,
      "--peers",
      "plant1:push,it:pull",
      ...this.#writable("dmz"),
      ...fast,
    ]);
  }

  itFlags(): string[] {
    const s = this.broker.setup;
    return [
      "--pull",
      `dmz=127.0.0.1:${this.ports.dmz}`,
      "--listen",
      `127.0.0.1:${this.ports.itListen}`,
      "--peers",
      "ops:pull",
      ...mqttTlsFlags(s),
      "--opcua-server",
      `127.0.0.1:${this.ports.itOpcua}`,
      ...this.#writable("it"),
      ...fast,
    ];
  }

  /** Starts the plant hop (again): it reads the PLC and pushes through the proxy. */
  startPlant(): Promise<Proc> {
    return startHop(this.dir, "plant1", [
      "--opcua",
      `plc=${this.plc.url}`,
      "--opcua-trust-unknown",
      "--opcua-sampling",
      "100ms",
      "--opcua-publishing",
      "100ms",
      "--push",
      `dmz=127.0.0.1:${this.proxy.port}`,
      ...this.#writable("plant1"),
      ...fast,
    ]);
  }

  /** Kills the PLC and starts it again on the same port. */
  async restartPlc(): Promise<void> {
    await this.plc.proc.stop("SIGKILL");
    this.plc = await startPlc({
      count: this.count,
      pki: join(this.dir, "plc"),
      port: this.plc.port,
    });
  }

  /** Point ids of every PLC variable at the it hop (and beyond), in PLC order. */
  plcIds(): string[] {
    return this.plcPaths().map((p) => `plant1/plc/${p}`);
  }

  /** Browse paths of every PLC variable. */
  plcPaths(): string[] {
    return [
      ...Array.from({ length: this.count }, (_, i) => plcVariable(i).path),
      counterPath,
      setpointPath,
    ];
  }

  /** Reads values straight from the PLC with an OPC UA client of its own. */
  async readPlc(paths: string[]) {
    await this.plcClient.connect(this.plc.url, { type: UserTokenType.Anonymous });
    try {
      return await this.plcClient.read(paths, 1);
    } finally {
      await this.plcClient.disconnect();
    }
  }

  /** The PLC's device as the Sparkplug subscriber sees it, from message `from` on. */
  cloud(from = 0): DeviceView {
    return deviceView(this.observer!.seen, "it", plcDevice, from);
  }

  /** The in-process hop's store (it's mirror, pulled). */
  get opsHop(): Hop {
    return this.ops!.hop;
  }

  /** Waits until `check` holds and returns the ms it took from `t0` (performance.now()). */
  static async since(t0: number, what: string, check: () => boolean, ms: number): Promise<number> {
    await waitFor(what, () => check() || undefined, ms);
    return performance.now() - t0;
  }

  async close(): Promise<void> {
    await Promise.resolve(this.ops?.[Symbol.asyncDispose]()).catch(() => {});
    await this.itClient?.close().catch(() => {});
    await this.plcClient?.close().catch(() => {});
    await this.observer?.close();
    await stopAll(this.plant, this.it, this.dmz, this.plc?.proc);
    await this.proxy[Symbol.asyncDispose]();
    await this.broker.stop();
  }
}
