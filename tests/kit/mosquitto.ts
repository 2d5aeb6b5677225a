/**
 * Mosquitto for tests and benchmarks, one launcher for both: brokers started
 * from generated configurations (listeners on free loopback ports, optional
 * mutual-TLS and password listeners, optional bridges, readiness by polling),
 * chains of bridged brokers for the broker-chain baselines, a process's memory
 * and CPU read from /proc, and the MQTT tests' broker ({@linkcode setupBroker},
 * {@linkcode Mosquitto}): its certificates and password file made at test time
 * with core/commands/certs.ts, started and stopped as often as a test needs.
 */
import { join } from "node:path";
import { initCa, issueHopCert } from "../../core/mod.ts";
import { freePort, waitFor } from "./helpers.ts";

/** The mosquitto executable: `$MOSQUITTO`, else the Debian path, else `mosquitto` on PATH. */
export const mosquittoPath: string = Deno.env.get("MOSQUITTO") ??
  (exists("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto");

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** PEM files for one side of a mutual-TLS connection. */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** One `topic` line of a bridge: which topics cross it, in which direction, at which QoS. */
export interface BridgeTopic {
  pattern: string;
  direction: "in" | "out" | "both";
  qos: 0 | 1 | 2;
}

/** A bridge the broker dials; it is the bridge's client side. */
export interface BridgeOptions {
  /** Connection name, also used as the remote client id, so notifications land on `$SYS/broker/connection/<name>/state`. */
  name: string;
  /** `host:port` to dial. With TLS the host must be in the remote's certificate. */
  address: string;
  topics: BridgeTopic[];
  /** Mutual TLS with hostname verification (`bridge_insecure false`). */
  tls?: TlsFiles;
  /** Default true, mosquitto's default. */
  cleanSession?: boolean;
  /** Publish connection state (`1`/`0`, with a will) locally and on the remote; default true. */
  notifications?: boolean;
  /** Bridge keepalive in seconds; mosquitto's default is 60. */
  keepaliveS?: number;
  /** Reconnect delay in seconds (`restart_timeout`); default is mosquitto's backoff (5 s base, 30 s cap). */
  restartTimeoutS?: number;
}

/** What to start. Every listener binds 127.0.0.1. */
export interface MosquittoOptions {
  /** Names the broker in logs and errors. */
  name: string;
  /** Where the configuration and the log go; must exist. */
  dir: string;
  /** Plain MQTT listener port; default a free one. */
  port?: number;
  /** A TLS listener that requires a client certificate from the chain's CA. */
  tls?: TlsFiles & { port?: number; identityAsUsername?: boolean };
  /** A listener that requires a user from `file` (mosquitto_passwd); turns on `per_listener_settings`. */
  password?: { file: string; port?: number };
  bridges?: BridgeOptions[];
  /** More configuration lines, appended before the bridges (global settings). */
  extra?: string[];
}

/** Memory and CPU of a broker process, as read from /proc. */
export interface ResourceSample {
  /** Resident set now, in kB. */
  rssKb: number;
  /** Peak resident set since start, in kB. */
  hwmKb: number;
  /**
   * Resident anonymous memory now, in kB: the process's own, without the
   * executable's and libraries' pages (file-backed, shared by every process
   * running the same binary).
   */
  anonKb: number;
  /** User plus system CPU time since start, in ms. */
  cpuMs: number;
  /** When the sample was taken (performance.now()). */
  at: number;
}

const clockTicksPerS = 100; // USER_HZ; 100 on every Linux build we run on (getconf CLK_TCK).

/** Reads RSS, peak RSS and CPU time of `pid` from /proc/<pid>/status and /proc/<pid>/stat. */
export function sampleProcess(pid: number): ResourceSample {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1]);
  // The command name in field 2 may hold spaces; the fields after its ")" are fixed.
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(rest[11]) + Number(rest[12]); // utime, stime (fields 14 and 15)
  return {
    rssKb: kb("VmRSS"),
    hwmKb: kb("VmHWM"),
    anonKb: kb("RssAnon"),
    cpuMs: ticks * 1000 / clockTicksPerS,
    at: performance.now(),
  };
}

/** Busy and total CPU time of the whole machine so far, in ms, from /proc/stat. */
export function sampleMachine(): { busyMs: number; totalMs: number; at: number } {
  const cpu = Deno.readTextFileSync("/proc/stat").split("\n")[0]!.split(/\s+/).slice(1)
    .map(Number);
  const idle = cpu[3]! + cpu[4]!; // idle, iowait
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  const toMs = 1000 / clockTicksPerS;
  return { busyMs: (total - idle) * toMs, totalMs: total * toMs, at: performance.now() };
}

/** The mosquitto.conf text for `options` with resolved ports. */
export function mosquittoConfig(
  options: MosquittoOptions,
  ports: Ports,
): string {
  // Per-listener settings need the security options under every listener.
  const anonymous = options.password ? ["allow_anonymous true"] : [];
  const lines = [
    `# ${options.name}: generated by tests/kit/mosquitto.ts`,
    // Started as root, mosquitto would drop to user "mosquitto" and then fail
    // to read keys in a private temporary directory.
    "user root",
    "persistence false",
    "set_tcp_nodelay true",
    `log_dest file ${join(options.dir, "mosquitto.log")}`,
    "log_type error",
    "log_type warning",
    "log_type notice",
    "log_type information",
    options.password ? "per_listener_settings true" : "allow_anonymous true",
    ...(options.extra ?? []),
    "",
    `listener ${ports.port} 127.0.0.1`,
    ...anonymous,
  ];
  if (options.tls && ports.tlsPort) {
    lines.push(
      `listener ${ports.tlsPort} 127.0.0.1`,
      `cafile ${options.tls.ca}`,
      `certfile ${options.tls.cert}`,
      `keyfile ${options.tls.key}`,
      "require_certificate true",
      ...(options.tls.identityAsUsername ? ["use_identity_as_username true"] : []),
      ...anonymous,
    );
  }
  if (options.password && ports.passwordPort) {
    lines.push(
      `listener ${ports.passwordPort} 127.0.0.1`,
      "allow_anonymous false",
      `password_file ${options.password.file}`,
    );
  }
  for (const b of options.bridges ?? []) {
    lines.push(
      "",
      `connection ${b.name}`,
      `address ${b.address}`,
      `remote_clientid ${b.name}`,
      "bridge_protocol_version mqttv311",
      `cleansession ${b.cleanSession ?? true}`,
      `notifications ${b.notifications ?? true}`,
      `keepalive_interval ${b.keepaliveS ?? 60}`,
      ...(b.restartTimeoutS ? [`restart_timeout ${b.restartTimeoutS}`] : []),
      ...b.topics.map((t) => `topic ${t.pattern} ${t.direction} ${t.qos}`),
    );
    if (b.tls) {
      lines.push(
        `bridge_cafile ${b.tls.ca}`,
        `bridge_certfile ${b.tls.cert}`,
        `bridge_keyfile ${b.tls.key}`,
        "bridge_insecure false",
      );
    }
  }
  return lines.join("\n") + "\n";
}

/** Listener ports of a broker, resolved. */
interface Ports {
  port: number;
  tlsPort?: number;
  passwordPort?: number;
}

/** A running mosquitto; `await using` stops it (SIGKILL after a grace period). */
export class MosquittoProcess implements AsyncDisposable {
  readonly name: string;
  /** Plain MQTT port on 127.0.0.1. */
  readonly port: number;
  /** TLS port on 127.0.0.1, if the broker has a TLS listener. */
  readonly tlsPort: number | undefined;
  /** Password listener port on 127.0.0.1, if the broker has one. */
  readonly passwordPort: number | undefined;
  readonly configPath: string;
  readonly logPath: string;
  #child: Deno.ChildProcess;
  #stderr = "";

  private constructor(
    options: MosquittoOptions,
    ports: Ports,
    child: Deno.ChildProcess,
  ) {
    this.name = options.name;
    this.port = ports.port;
    this.tlsPort = ports.tlsPort;
    this.passwordPort = ports.passwordPort;
    this.configPath = join(options.dir, "mosquitto.conf");
    this.logPath = join(options.dir, "mosquitto.log");
    this.#child = child;
    this.#drain().catch(() => {});
  }

  /** Writes the configuration, starts the broker and waits until its listeners accept connections. */
  static async start(options: MosquittoOptions, signal?: AbortSignal): Promise<MosquittoProcess> {
    const ports: Ports = {
      port: options.port ?? freePort(),
      ...(options.tls ? { tlsPort: options.tls.port ?? freePort() } : {}),
      ...(options.password ? { passwordPort: options.password.port ?? freePort() } : {}),
    };
    await Deno.writeTextFile(join(options.dir, "mosquitto.conf"), mosquittoConfig(options, ports));
    const broker = new MosquittoProcess(options, ports, spawn(join(options.dir, "mosquitto.conf")));
    try {
      await broker.#ready(signal);
    } catch (e) {
      await broker.stop();
      throw e;
    }
    return broker;
  }

  /** The broker's process id (changes on restart). */
  get pid(): number {
    return this.#child.pid;
  }

  /** RSS, peak RSS and CPU time of the broker process. */
  sample(): ResourceSample {
    return sampleProcess(this.pid);
  }

  /** Stops the broker: `signal` (default SIGTERM), then SIGKILL if it is still running after 2 s. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    const child = this.#child;
    try {
      child.kill(signal);
    } catch { /* already exited */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
    }, 2_000);
    try {
      await child.status;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Starts the broker again with the same configuration and ports, after it was stopped or killed. */
  async restart(signal?: AbortSignal): Promise<void> {
    this.#child = spawn(this.configPath);
    this.#drain().catch(() => {});
    await this.#ready(signal);
  }

  /** The broker's log and standard error so far, for failure messages. */
  log(): string {
    let log = "";
    try {
      log = Deno.readTextFileSync(this.logPath);
    } catch { /* not written yet */ }
    return log + this.#stderr;
  }

  /** Collects standard error (configuration errors come before the log file opens). */
  async #drain(): Promise<void> {
    for await (const text of this.#child.stderr.pipeThrough(new TextDecoderStream())) {
      this.#stderr += text;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #ready(signal?: AbortSignal): Promise<void> {
    let exited: Deno.CommandStatus | undefined;
    this.#child.status.then((s) => exited = s);
    await waitFor(`mosquitto "${this.name}" to accept connections`, async () => {
      signal?.throwIfAborted();
      if (exited) {
        throw new Error(
          `mosquitto "${this.name}" exited with code ${exited.code}; log:\n${this.log()}`,
        );
      }
      for (const port of [this.port, this.tlsPort, this.passwordPort]) {
        if (port === undefined) continue;
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        } catch {
          return false;
        }
      }
      return true;
    }, 15_000);
  }
}

function spawn(configPath: string): Deno.ChildProcess {
  return new Deno.Command(mosquittoPath, {
    args: ["-c", configPath],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** A chain of bridged brokers laid out like a hopgate chain. */
export interface ChainOptions {
  /** Where certificates and each broker's configuration and log go; must exist. */
  dir: string;
  /** Bridges over mutual TLS (certificates from core/commands/certs.ts) instead of plain TCP. */
  tls: boolean;
  /** QoS of the bridges' topic lines. */
  qos: 0 | 1;
  /** Which topics cross the bridges (`#` never matches `$SYS/...`). */
  topics: string[];
  /** Two brokers (plant → dmz) or three (plant → dmz ← it). */
  brokers: 2 | 3;
  /** Settings for every bridge (keepalive, clean session, reconnect delay, notifications). */
  bridge?: Pick<BridgeOptions, "cleanSession" | "notifications" | "keepaliveS" | "restartTimeoutS">;
  /** Topics the it broker's bridge pulls in besides `topics` (e.g. notifications), at `qos`. */
  itExtraTopics?: string[];
  /** Global configuration lines for every broker. */
  extra?: string[];
  /** Returns the port the plant's bridge dials instead of dmz's (a fault proxy in between). */
  via?: (dmzPort: number) => number;
}

/**
 * plant ─dials→ dmz ←dials─ it: the plant bridges its topics `out` to the dmz,
 * and the it broker bridges them `in` from the dmz, so no one dials into the
 * plant, as in a hopgate chain. Local clients use each broker's plain port.
 */
export class BrokerChain implements AsyncDisposable {
  readonly plant: MosquittoProcess;
  readonly dmz: MosquittoProcess;
  /** The broker a cloud subscriber reads: it, or dmz in a two-broker chain. */
  readonly last: MosquittoProcess;
  readonly brokers: MosquittoProcess[];

  private constructor(brokers: MosquittoProcess[]) {
    this.brokers = brokers;
    this.dmz = brokers[0]!;
    this.plant = brokers[1]!;
    this.last = brokers[2] ?? this.dmz;
  }

  /** Makes certificates if needed and starts dmz, plant and it, in that order. */
  static async start(options: ChainOptions): Promise<BrokerChain> {
    const names = options.brokers === 3 ? ["dmz", "plant", "it"] : ["dmz", "plant"];
    const tls: Record<string, TlsFiles> = {};
    if (options.tls) {
      const caDir = join(options.dir, "ca");
      await initCa(caDir);
      for (const name of names) {
        const out = await issueHopCert(name, {
          caDir,
          outDir: join(options.dir, name),
          ips: ["127.0.0.1"],
        });
        tls[name] = { ca: out.ca, cert: out.cert, key: out.key };
      }
    }
    const started: MosquittoProcess[] = [];
    try {
      for (const name of names) await Deno.mkdir(join(options.dir, name), { recursive: true });
      const dmz = await MosquittoProcess.start({
        name: "dmz",
        dir: join(options.dir, "dmz"),
        ...(tls.dmz ? { tls: tls.dmz } : {}),
        ...(options.extra ? { extra: options.extra } : {}),
      });
      started.push(dmz);
      const dmzPort = dmz.tlsPort ?? dmz.port;
      const bridge = (name: string, port: number, direction: "in" | "out", topics: string[]) => ({
        name: `${name}-dmz`,
        address: `127.0.0.1:${port}`,
        topics: topics.map((pattern) => ({ pattern, direction, qos: options.qos })),
        ...options.bridge,
        ...(tls[name] ? { tls: tls[name] } : {}),
      });
      for (const name of names.slice(1)) {
        const plant = name === "plant";
        started.push(
          await MosquittoProcess.start({
            name,
            dir: join(options.dir, name),
            ...(options.extra ? { extra: options.extra } : {}),
            bridges: [
              plant
                ? bridge(name, options.via?.(dmzPort) ?? dmzPort, "out", options.topics)
                : bridge(name, dmzPort, "in", [...options.topics, ...options.itExtraTopics ?? []]),
            ],
          }),
        );
      }
    } catch (e) {
      await Promise.all(started.map((b) => b.stop()));
      throw e;
    }
    return new BrokerChain(started);
  }

  /** Stops every broker. */
  async stop(): Promise<void> {
    await Promise.all(this.brokers.map((b) => b.stop()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Files and ports of a test broker. */
export interface BrokerSetup {
  dir: string;
  tlsPort: number;
  plainPort: number;
  /** Listener that requires user `hopgate` with password `secret`. */
  authPort: number;
  ca: string;
  /** A client certificate the broker trusts (CN hop). */
  clientCert: string;
  clientKey: string;
  /** A CA the broker does not know, with a client certificate from it. */
  otherCa: string;
  otherCert: string;
  otherKey: string;
  /** The broker's own certificate and key (CN localhost), and its password file. */
  serverCert: string;
  serverKey: string;
  passwordFile: string;
}

/** Makes the certificates and password file of a broker in `dir`. */
export async function setupBroker(dir: string): Promise<BrokerSetup> {
  const caDir = join(dir, "ca");
  const otherDir = join(dir, "other-ca");
  await initCa(caDir);
  await initCa(otherDir);
  // The broker's name is the loopback address, so clients can dial 127.0.0.1 and check it.
  const server = await issueHopCert("localhost", { caDir, outDir: join(dir, "server") });
  const client = await issueHopCert("hop", { caDir, outDir: join(dir, "client") });
  const other = await issueHopCert("hop", { caDir: otherDir, outDir: join(dir, "other") });
  const passwd = join(dir, "passwd");
  const out = await new Deno.Command("mosquitto_passwd", {
    args: ["-b", "-c", passwd, "hopgate", "secret"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return {
    dir,
    tlsPort: freePort(),
    plainPort: freePort(),
    authPort: freePort(),
    ca: server.ca,
    clientCert: client.cert,
    clientKey: client.key,
    otherCa: join(otherDir, "ca.crt"),
    otherCert: other.cert,
    otherKey: other.key,
    serverCert: server.cert,
    serverKey: server.key,
    passwordFile: passwd,
  };
}

/**
 * The MQTT tests' broker: a {@linkcode MosquittoProcess} on the ports and with
 * the files of a {@linkcode BrokerSetup}, started and stopped as often as a
 * test needs (always stop it in `finally`).
 */
export class Mosquitto {
  readonly setup: BrokerSetup;
  #broker: MosquittoProcess | null = null;

  constructor(setup: BrokerSetup) {
    this.setup = setup;
  }

  /** Starts the broker and waits until its listeners accept connections. */
  async start(): Promise<void> {
    const s = this.setup;
    this.#broker = await MosquittoProcess.start({
      name: "test broker",
      dir: s.dir,
      port: s.plainPort,
      tls: {
        ca: s.ca,
        cert: s.serverCert,
        key: s.serverKey,
        port: s.tlsPort,
        identityAsUsername: true,
      },
      password: { file: s.passwordFile, port: s.authPort },
    });
  }

  /** The broker's process id (0 while stopped). */
  get pid(): number {
    return this.#broker?.pid ?? 0;
  }

  /** Stops the broker (safe to call when stopped). */
  async stop(): Promise<void> {
    const b = this.#broker;
    this.#broker = null;
    await b?.stop();
  }
}

/** The flags that bridge a hop to the test broker over TLS with its client certificate. */
export function mqttTlsFlags(setup: BrokerSetup): string[] {
  return [
    "--mqtt",
    `mqtts://localhost:${setup.tlsPort}`,
    "--mqtt-ca",
    setup.ca,
    "--mqtt-cert",
    setup.clientCert,
    "--mqtt-key",
    setup.clientKey,
  ];
}

/** Flags of a simulated hop publishing to the test broker over TLS with its client certificate. */
export function tlsHopFlags(setup: BrokerSetup, dataDir: string, extra: string[] = []): string[] {
  return [
    "--name",
    "plant1",
    "--data-dir",
    dataDir,
    "--status-interval",
    "300ms",
    ...mqttTlsFlags(setup),
    ...extra,
  ];
}
