/**
 * `hopgate demo`: the whole chain on one machine. A simulated PLC (node-opcua,
 * SignAndEncrypt), a plant hop reading it and pushing to a DMZ hop through a
 * loopback proxy the user can cut, an IT hop pulling from the DMZ, bridging to
 * an MQTT broker in Sparkplug B and serving OPC UA; a live table of what each
 * hop and the broker hold.
 *
 * This orchestrator only spawns processes and reads their output; it takes
 * each part's sandbox from core and from the plugins' exported needs. Every
 * part runs as its own process under its own narrow permissions:
 * - the PLC is ./demo_plc.ts (it needs node-opcua);
 * - the broker is ./demo_broker.ts (aedes, or a subscriber of `--broker`),
 *   which prints what it receives decoded with the Sparkplug codec;
 * - each hop is `hopgate run` under exactly its derived permissions;
 * - each hop is observed by `hopgate watch` (JSON lines): the DMZ and IT hops
 *   by a pull link, the plant hop (which only dials out) by pushing to a
 *   watcher that listens (`watch --listen`), as one more peer named `demo`.
 */
import { join } from "node:path";
import {
  ConfigError,
  derivePermissions,
  describePermissions,
  type HopConfig,
  hopEnvFor,
  hopRunArgs,
  initCa,
  issueHopCert,
  kebab,
  mainModule,
  permissionFlags,
  type PermissionSet,
  resolveConfig,
  toFlags,
} from "../../core/mod.ts";
import { opcuaServerNeeds } from "../opcua/mod.ts";
import { mqttLibraryNeeds } from "../mqtt/mod.ts";
import { mqttBrokerAddress } from "../mqtt/options.ts";
import { Child } from "./_demo_processes.ts";
import { freePort, LinkProxy } from "./link_proxy.ts";
import { DemoBoard, type View } from "./_demo_board.ts";

/** What `hopgate demo` is asked to do; times in seconds, counted from when the chain is up. */
export interface DemoOptions {
  /** Stop after this long. */
  seconds?: number;
  /** Cut the plant → DMZ link after this long. */
  cutAfter?: number;
  /** Restore that link after this long. */
  restoreAfter?: number;
  /** A real broker (`mqtt://host:port`) instead of the in-process aedes broker. */
  broker?: string;
}

const plcScript = new URL("./demo_plc.ts", import.meta.url).pathname;
const brokerScript = new URL("./demo_broker.ts", import.meta.url).pathname;

/** A permission set naming only what is given. */
function permissions(p: Partial<PermissionSet>): PermissionSet {
  return { net: [], read: [], write: [], env: [], sys: [], ignoreEnv: [], ...p };
}

/** Runs the demo until q/Ctrl+C, SIGINT/SIGTERM or `seconds`; returns the exit code. */
export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const t0 = performance.now();
  const elapsed = () => ((performance.now() - t0) / 1000).toFixed(1).padStart(5);
  const say = (line: string) => console.log(`[${elapsed()}s] ${line}`);
  const tty = Deno.stdout.isTerminal();
  const dir = await Deno.makeTempDir({ prefix: "hopgate-demo-" });
  const children: Child[] = [];
  const board = new DemoBoard({ print: (l) => console.log(l), stamp: () => `${elapsed()}s` });
  let resolveUp = () => {};
  const up = new Promise<void>((r) => resolveUp = r);
  const stop = new AbortController();
  stop.signal.addEventListener("abort", () => board.quiet = true, { once: true });
  let proxy: LinkProxy | null = null;
  let stdinReader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  let code = 0;
  const watchLine = (view: View) => (line: string, err: boolean) => {
    if (err) return;
    board.watchLine(view, line);
    if (view === "it" && board.upAtIt()) resolveUp();
  };
  const brokerLine = (line: string, err: boolean) => !err && board.brokerLine(line);
  const event = (line: string) => board.event(line);
  const forwardProblems = (name: string) => (line: string) => {
    if (/\[(WRN|ERR|FTL)\]/.test(line)) event(`${name.padEnd(6)} ${line.replace(/^.*?\] /, "")}`);
  };

  let fail = (_e: Error) => {};
  /** Rejects when a child exits before the demo stops it. */
  const failed = new Promise<never>((_, reject) => fail = reject);
  failed.catch(() => {});
  const spawn = (
    name: string,
    args: string[],
    onLine: (l: string, err: boolean) => void,
    env: Readonly<Record<string, string>> = {},
  ) => {
    const c = new Child(name, args, onLine, env);
    children.push(c);
    void c.done.then((s) => {
      if (!stop.signal.aborted) fail(new Error(`${name} exited with code ${s.code}:\n${c.tail()}`));
    });
    say(`started ${name} (pid ${c.pid})`);
    return c;
  };
  const sandbox = (who: string, p: PermissionSet) =>
    board.sandbox(`sandbox of ${who}: ${describePermissions(p)}`);
  const onSignal = () => stop.abort();
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, onSignal);
  try {
    console.log("hopgate demo: PLC → plant1 → (proxy) → dmz ← it → MQTT (Sparkplug B) + OPC UA");
    say(`temp dir ${dir} (removed at exit)`);
    const caDir = join(dir, "ca");
    await initCa(caDir, { name: "hopgate demo CA" });
    for (const hop of ["plant1", "dmz", "it", "demo"]) {
      await issueHopCert(hop, { caDir, outDir: join(dir, hop, "certs") });
    }
    say("certificates made: a private CA and one for each of plant1, dmz, it and the demo");

    // The PLC first: loading node-opcua and its nodeset takes the longest.
    const plcPort = freePort();
    const plcPki = join(dir, "plc");
    await Deno.mkdir(plcPki);
    const plcNeeds = opcuaServerNeeds;
    const plcPerms = permissions({
      net: [`127.0.0.1:${plcPort}`],
      read: [plcPki, ...plcNeeds.read ?? []],
      write: [plcPki],
      env: plcNeeds.env ?? [],
      sys: plcNeeds.sys ?? [],
    });
    sandbox("the PLC", plcPerms);
    const plc = spawn(
      "plc",
      [
        "run",
        ...permissionFlags(plcPerms),
        plcScript,
        "--port",
        String(plcPort),
        "--pki",
        plcPki,
      ],
      () => {},
    );
    const plcReady = plc.waitFor(/PLC ready/);

    const brokerPort = freePort();
    const brokerUrl = options.broker ?? `mqtt://127.0.0.1:${brokerPort}`;
    const target = options.broker ? new URL(options.broker) : null;
    const brokerPerms = permissions({
      net: [
        target ? mqttBrokerAddress(target) : `127.0.0.1:${brokerPort}`,
      ],
      ignoreEnv: mqttLibraryNeeds.ignoreEnv ?? [],
    });
    sandbox(target ? "the broker subscriber" : "the aedes broker", brokerPerms);
    const broker = spawn(
      "broker",
      [
        "run",
        ...permissionFlags(brokerPerms),
        brokerScript,
        ...(target ? ["--url", brokerUrl] : ["--port", String(brokerPort)]),
      ],
      brokerLine,
    );
    const dmzPort = freePort(), itPort = freePort(), itOpcua = freePort(), itStatus = freePort();
    const plantWatchPort = freePort();
    proxy = new LinkProxy(dmzPort);
    const fast = { heartbeat: "500ms", "link-timeout": "2s", "status-interval": "0" };
    const hop = (name: string, values: Record<string, unknown>) => {
      const all = { name, "data-dir": join(dir, name), ...fast, ...values };
      const config: HopConfig = resolveConfig([{ label: null, baseDir: dir, values: all }]);
      sandbox(`hop ${name}`, derivePermissions(config));
      return spawn(
        name,
        hopRunArgs(config, toFlags(all)),
        forwardProblems(name),
        hopEnvFor(config),
      );
    };
    const watcher = (view: View, address: string, listen: boolean) => {
      const certs = join(dir, "demo", "certs");
      const perms = permissions({ net: [address.split("=")[1]!], read: [certs] });
      sandbox(`the watcher of ${view}`, perms);
      return spawn(`watch-${view}`, [
        "run",
        ...permissionFlags(perms),
        mainModule,
        "watch",
        address,
        "--name",
        "demo",
        "--filter",
        "plant1/**,*/$links/*/connected,it/$mqtt/connected",
        "--tls-cert",
        join(certs, "demo.crt"),
        "--tls-key",
        join(certs, "demo.key"),
        "--tls-ca",
        join(certs, "ca.crt"),
        ...(listen ? ["--listen"] : []),
      ], watchLine(view));
    };

    // The PLC, then the plant hop reading it, is the longest path; the light processes start
    // beside the PLC and the heavy IT hop (node-opcua too) once the PLC has loaded.
    const dmz = hop("dmz", {
      listen: `127.0.0.1:${dmzPort}`,
      peers: "plant1:push,it:pull,demo:watch",
    });
    const watchPlant = watcher("plant1", `plant1=127.0.0.1:${plantWatchPort}`, true);
    const started = Promise.all([
      (async () => {
        say((await plcReady).replace(/^PLC ready/, "PLC listening at"));
        await watchPlant.waitFor(/watch: listening/);
        hop("plant1", {
          opcua: `plc=opc.tcp://127.0.0.1:${plcPort}/plc`,
          "opcua-trust-unknown": true,
          "opcua-browse": "i=85",
          "opcua-include": "Plant/**",
          push: [`dmz=127.0.0.1:${proxy!.port}`, `demo=127.0.0.1:${plantWatchPort}`],
        });
        const it = hop("it", {
          pull: `dmz=127.0.0.1:${dmzPort}`,
          listen: `127.0.0.1:${itPort}`,
          peers: "demo:watch",
          mqtt: brokerUrl,
          ...(brokerUrl.startsWith("mqtt:") ? { "mqtt-allow-plaintext": true } : {}),
          ...(options.broker ? {} : { "mqtt-version": "3.1.1" }), // aedes speaks MQTT 3.1.1 only
          "opcua-server": `127.0.0.1:${itOpcua}`,
          "opcua-server-anonymous": true,
          "status-http": `127.0.0.1:${itStatus}`,
        });
        await it.waitFor(/Listening on/);
        watcher("it", `it=127.0.0.1:${itPort}`, false);
      })(),
      broker.waitFor(/broker ready/).then(() => say(`broker ready at ${brokerUrl}`)),
      dmz.waitFor(/Listening on/).then(() => watcher("dmz", `dmz=127.0.0.1:${dmzPort}`, false)),
    ]);
    await Promise.race([started, failed, abortable(stop.signal)]);
    say("waiting for the first values to reach the IT hop…");
    await Promise.race([up, failed, abortable(stop.signal)]);
    if (stop.signal.aborted) return code;
    board.live = tty;
    say(`chain up: PLC values reach the IT hop; OPC UA endpoint opc.tcp://127.0.0.1:${itOpcua}`);
    say(`status page of the IT hop: http://127.0.0.1:${itStatus}/ (and /metrics for Prometheus)`);
    console.log(
      tty
        ? "Keys: c = cut the plant→dmz link, r = restore it, q = quit"
        : "Statuses are printed as they change, the table every 5 s",
    );

    const after = (s: number | undefined, f: () => void) => {
      if (s === undefined) return;
      const t = setTimeout(f, s * 1000);
      stop.signal.addEventListener("abort", () => clearTimeout(t), { once: true });
    };
    const cut = () => {
      if (proxy?.state === "cut") return;
      proxy?.cut();
      event("demo   CUT the plant1→dmz link (the proxy closes it and refuses reconnects)");
    };
    const restore = () => {
      if (proxy?.state !== "cut") return;
      proxy.restore();
      event("demo   RESTORED the plant1→dmz link (plant1 reconnects with backoff)");
    };
    after(options.cutAfter, cut);
    after(options.restoreAfter, restore);
    after(options.seconds, () => stop.abort());
    if (Deno.stdin.isTerminal()) {
      Deno.stdin.setRaw(true);
      stdinReader = Deno.stdin.readable.getReader();
      void (async () => {
        for (;;) {
          const { value, done } = await stdinReader!.read().catch(() => ({
            value: undefined,
            done: true,
          }));
          if (done || !value) return;
          for (const b of value) {
            const k = String.fromCharCode(b).toLowerCase();
            if (k === "c") cut();
            else if (k === "r") restore();
            else if (k === "q" || b === 3) stop.abort();
          }
        }
      })();
    }
    const render = () => {
      if (tty) console.log(board.screen(proxy!.state === "cut", Deno.consoleSize().columns));
      else console.log(board.tableLines(proxy!.state === "cut").join("\n"));
    };
    render();
    const timer = setInterval(render, tty ? 500 : 5000);
    await Promise.race([abortable(stop.signal), failed]);
    clearInterval(timer);
    if (!tty) render();
  } catch (e) {
    console.error(`hopgate demo: ${(e as Error).message}`);
    code = 1;
  } finally {
    stop.abort();
    if (stdinReader) {
      await stdinReader.cancel().catch(() => {});
      Deno.stdin.setRaw(false);
    }
    for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(sig, onSignal);
    say("stopping: the watchers, then plant1, it, dmz, the broker and the PLC");
    // Observers first, then the hops from the plant down, then the PLC and the broker.
    const order = ["watch-", "plant1", "it", "dmz", "broker", "plc"];
    const rank = (c: Child) => order.findIndex((o) => c.name.startsWith(o));
    for (const c of [...children].sort((a, b) => rank(a) - rank(b))) await c.stop();
    await proxy?.close();
    await Deno.remove(dir, { recursive: true });
    say(`stopped ${children.length} processes; removed ${dir}`);
  }
  return code;
}

/** Resolves when the signal aborts. */
function abortable(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** The demo command's flags as options; throws {@link ConfigError} on bad ones. */
export function demoOptions(opts: Record<string, string | undefined>): DemoOptions {
  const problems: string[] = [];
  const out: DemoOptions = {};
  for (const key of ["seconds", "cutAfter", "restoreAfter"] as const) {
    const text = opts[key];
    if (text === undefined) continue;
    const n = Number(text);
    if (!(n >= 0)) problems.push(`--${kebab(key)} "${text}" is not a number of seconds`);
    else out[key] = n;
  }
  if (opts.broker !== undefined) {
    if (!/^mqtts?:\/\/[^/:]+(:\d+)?\/?$/.test(opts.broker)) {
      problems.push(`--broker "${opts.broker}" is not mqtt://host:port (or mqtts://host:port)`);
    } else out.broker = opts.broker;
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}
