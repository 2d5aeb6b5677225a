/**
 * The least Deno permission set a hop's configuration needs. This is the
 * product's main security promise: a built hop can reach exactly the
 * addresses and files its configuration names, and nothing else.
 */
import { formatHostPort, type HopConfig, usesTunnel } from "./config/mod.ts";

/** Deno permissions as lists of exact descriptors; an empty list means not granted at all. */
export interface PermissionSet {
  /** host:port pairs dialled or listened on. */
  net: string[];
  read: string[];
  write: string[];
  env: string[];
  sys: string[];
  /**
   * Environment variables that libraries probe but the hop does not need:
   * reads of them return undefined (`--ignore-env`) instead of failing.
   */
  ignoreEnv: string[];
}

/** What a library needs beyond what the configuration names, found by running it sandboxed. */
export interface LibraryNeeds {
  env?: string[];
  sys?: string[];
  ignoreEnv?: string[];
}

/**
 * Extra needs of the libraries behind each adapter, keyed by adapter kind.
 * Each entry is justified where the adapter is written.
 */
export const libraryNeeds: Record<string, LibraryNeeds> = {
  opcua: {},
  // mqtt.js imports `debug`, which enumerates the environment when loaded; these
  // reads (DEBUG and friends, plus the proxy and ws probes) return undefined instead of failing.
  mqtt: { ignoreEnv: ["DEBUG", "READABLE_STREAM", "MQTTJS_SOCKS_PROXY", "WS_NO_BUFFER_UTIL"] },
};

/** Derives the permission set of a hop; `configFile` is read at startup under `deno run`. */
export function derivePermissions(
  c: HopConfig,
  options: { configFile?: string } = {},
): PermissionSet {
  const net = new Set<string>();
  const read = new Set<string>([c.dataDir]);
  const write = new Set<string>([c.dataDir]);
  const env = new Set<string>();
  const sys = new Set<string>();
  const ignoreEnv = new Set<string>();
  const need = (kind: string) => {
    for (const v of libraryNeeds[kind]?.env ?? []) env.add(v);
    for (const v of libraryNeeds[kind]?.sys ?? []) sys.add(v);
    for (const v of libraryNeeds[kind]?.ignoreEnv ?? []) ignoreEnv.add(v);
  };
  if (options.configFile) read.add(options.configFile);

  if (usesTunnel(c)) {
    if (c.listen) net.add(formatHostPort(c.listen));
    for (const link of [...c.push, ...c.pull]) {
      for (const a of link.addresses) net.add(formatHostPort(a));
    }
    read.add(c.tlsCert).add(c.tlsKey).add(c.tlsCa);
  }
  if (c.opcua.length > 0 || c.opcuaServer) {
    need("opcua");
    for (const e of c.opcua) net.add(`${e.url.hostname}:${e.url.port}`);
    if (c.opcuaServer) net.add(formatHostPort(c.opcuaServer));
    for (const f of [c.opcuaPasswordFile, c.opcuaUserCert, c.opcuaUserKey]) if (f) read.add(f);
    if (c.opcuaServer) read.add(c.opcuaUsers);
    if (c.opcuaPasswordEnv) env.add(c.opcuaPasswordEnv);
  }
  if (c.mqtt) {
    need("mqtt");
    const port = c.mqtt.port || (c.mqtt.protocol === "mqtts:" ? "8883" : "1883");
    net.add(`${c.mqtt.hostname}:${port}`);
    for (const f of [c.mqttPasswordFile, c.mqttCa, c.mqttCert, c.mqttKey]) if (f) read.add(f);
    if (c.mqttPasswordEnv) env.add(c.mqttPasswordEnv);
  }
  return {
    net: [...net],
    read: minimalPaths(read),
    write: minimalPaths(write),
    env: [...env].sort(),
    sys: [...sys].sort(),
    ignoreEnv: [...ignoreEnv].filter((v) => !env.has(v)).sort(),
  };
}

/** Drops paths already covered by a listed parent directory. */
function minimalPaths(paths: Set<string>): string[] {
  const sorted = [...paths].sort();
  return sorted.filter((p) =>
    !sorted.some((q) => q !== p && p.startsWith(q.endsWith("/") ? q : `${q}/`))
  );
}

/** The `deno run` / `deno compile` flags granting exactly this set, with prompts off. */
export function permissionFlags(p: PermissionSet): string[] {
  const flags = ["--no-prompt"];
  for (const kind of ["net", "read", "write", "env", "sys"] as const) {
    if (p[kind].length > 0) flags.push(`--allow-${kind}=${p[kind].join(",")}`);
  }
  if (p.ignoreEnv.length > 0) flags.push(`--ignore-env=${p.ignoreEnv.join(",")}`);
  return flags;
}

/** One line describing a permission set, for logs and `--dry-run`. */
export function describePermissions(p: PermissionSet): string {
  const part = (k: keyof PermissionSet) => `${k}=${p[k].length ? p[k].join(",") : "none"}`;
  return `${part("net")} ${part("read")} ${part("write")} ${part("env")} ${
    part("sys")
  } run=none ffi=none`;
}
