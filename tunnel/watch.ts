/**
 * `hopgate watch`: a pull link from an operator's terminal (or a test) that
 * prints every point change of a hop's mirror as it arrives, one JSON line
 * each, and the link's own ups and downs on stderr.
 */
import { join, resolve } from "node:path";
import {
  ConfigError,
  formatHostPort,
  type HopConfig,
  hopNamePattern,
  type HostPort,
  isoTime,
  jsonValue,
  logger,
  parseHostPort,
  PointStore,
  setupLogging,
  Status,
  statusName,
  type StoredPoint,
  systemClock,
  writePolicy,
} from "../core/mod.ts";
import { adapterContext, type HopServices } from "../core/adapter.ts";
import { LinkAdapter } from "./link_adapter.ts";
import { ListenerAdapter } from "./listener.ts";

/** What to watch and as whom. */
export interface WatchOptions {
  /** The hop's listener to dial, or with `listen` the address to listen at. */
  address: HostPort;
  /** The hop expected at the address; `null` accepts whichever hop the CA vouches for. */
  peer: string | null;
  /**
   * Listen at the address and let `peer` push its data set to the watcher,
   * for hops that only dial out (a plant hop pushing to the watcher as one more peer).
   */
  listen?: boolean;
  /** The watcher's own hop name (its certificate's name, listed in the hop's --peers). */
  name: string;
  /** Point id patterns to print (* and **); empty prints everything. */
  filter: string[];
  /** The watcher's certificate (PEM). */
  tlsCert: string;
  /** The watcher's private key (PEM). */
  tlsKey: string;
  /** The chain's CA certificate (PEM). */
  tlsCa: string;
  /** Ms between heartbeats (default 1000). */
  heartbeat?: number;
  /** Ms of silence after which the link is down (default 5000). */
  linkTimeout?: number;
  /** Stops the watch. */
  signal?: AbortSignal;
  /** Where point lines go (default stdout). */
  print?: (line: string) => void;
}

/** Turns the `watch` command's arguments into options; throws {@link ConfigError} on bad ones. */
export function watchCommandOptions(
  address: string,
  opts: Record<string, string | boolean | undefined>,
): WatchOptions {
  const text = (key: string) => typeof opts[key] === "string" ? opts[key] : undefined;
  const problems: string[] = [];
  const eq = address.indexOf("=");
  const peer = eq < 0 ? null : address.slice(0, eq);
  const hp = parseHostPort(eq < 0 ? address : address.slice(eq + 1));
  if (!hp) problems.push(`"${address}" is not [hop=]host:port (for example dmz=10.0.0.5:7000)`);
  if (peer !== null && !hopNamePattern.test(peer)) problems.push(`"${peer}" is not a hop name`);
  const listen = opts.listen === true;
  if (listen && peer === null) {
    problems.push(`--listen needs the pushing hop's name: <hop>=host:port, not "${address}"`);
  }
  const name = text("name") ?? "";
  if (!hopNamePattern.test(name)) problems.push(`--name "${name}" is not a hop name`);
  if (problems.length || !hp) throw new ConfigError(problems);
  const certs = resolve("hopgate-data", name, "certs");
  return {
    address: hp,
    peer,
    ...(listen ? { listen } : {}),
    name,
    filter: (text("filter") ?? "").split(",").map((f) => f.trim()).filter((f) => f !== ""),
    tlsCert: resolve(text("tlsCert") ?? join(certs, `${name}.crt`)),
    tlsKey: resolve(text("tlsKey") ?? join(certs, `${name}.key`)),
    tlsCa: resolve(text("tlsCa") ?? join(certs, "ca.crt")),
  };
}

/**
 * One point as a JSON line, its value and time as core's {@linkcode jsonValue}
 * and {@linkcode isoTime} write them (as the MQTT JSON payloads do, except that
 * NaN and ±Infinity print as `null`). `time` is `null` when the point's time is
 * no date (NaN, ±Infinity or beyond ±8.64e15 ms): a watcher shows a broken time
 * rather than stopping at it.
 */
export function pointLine(p: StoredPoint, removed = false): string {
  return JSON.stringify({
    id: p.id,
    ...(removed ? { removed: true } : {}),
    type: p.type,
    value: jsonValue(p.value),
    status: statusName(p.status),
    time: isoTime(p.time),
    hops: p.hops,
    cause: p.cause,
  });
}

/** Watches a hop until the signal aborts or SIGINT/SIGTERM; returns the exit code. */
export async function runWatch(o: WatchOptions): Promise<number> {
  await setupLogging({ format: "text", level: "warning" });
  const print = o.print ?? ((line: string) => console.log(line));
  const store = new PointStore(o.name);
  const filter = o.filter.length ? writePolicy(o.filter) : () => true;
  let stopping = false;
  // Closing our own end fails every point locally; that is not news from the hop watched.
  const shown = (id: string) => !stopping && filter(id);
  store.subscribe({
    onUpdate: (p) => shown(p.id) && print(pointLine(p)),
    onRemove: (p) => shown(p.id) && print(pointLine(p, true)),
  }, { name: "watch" });
  const abort = new AbortController();
  o.signal?.addEventListener("abort", () => abort.abort(), { once: true });
  const onSignal = () => abort.abort();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(sig, onSignal);
    } catch { /* SIGTERM cannot be listened to on Windows */ }
  }
  const settings = {
    heartbeat: o.heartbeat ?? 1000,
    linkTimeout: o.linkTimeout ?? 5000,
    maxFrame: 64 * 1024 * 1024,
    writeTimeout: 10_000,
    onChange: (connected: boolean, detail: string) =>
      console.error(`watch: ${connected ? "connected" : "disconnected"}: ${detail}`),
  };
  // Listening, the watcher is a listener with one peer: the hop that pushes to it.
  const pusher = o.listen ? o.peer : null;
  const link = pusher !== null
    ? new LinkAdapter(pusher, { kind: "accept" }, settings)
    : new LinkAdapter(
      o.peer,
      { kind: "dial", direction: "pull", addresses: [o.address] },
      settings,
    );
  const listener = pusher !== null
    ? new ListenerAdapter(o.address, new Map([[pusher, link]]), {
      maxLinks: 1,
      handshakeTimeout: 3000,
      allowFrom: [],
      maxUnauthenticated: 8,
      maxUnauthenticatedPerAddress: 4,
    })
    : null;
  const services: HopServices = {
    hop: o.name,
    // A watcher is no hop: its link adapter reads only the certificate paths from the config.
    config: { tlsCert: o.tlsCert, tlsKey: o.tlsKey, tlsCa: o.tlsCa } as HopConfig,
    store,
    clock: systemClock,
    signal: abort.signal,
    log: logger("watch"),
    write: () => Promise.resolve(Status.BadNotWritable),
  };
  await link.start(adapterContext(link, services));
  await listener?.start(adapterContext(listener, services));
  if (listener) console.error(`watch: listening on ${formatHostPort(o.address)} for ${pusher}`);
  await new Promise<void>((resolve) => {
    if (abort.signal.aborted) resolve();
    abort.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  stopping = true;
  await listener?.stop();
  await link.stop();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.removeSignalListener(sig, onSignal);
    } catch { /* not registered */ }
  }
  return 0;
}
