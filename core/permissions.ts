/**
 * The least Deno permission set a hop's configuration needs. This is the
 * product's main security promise: a built hop can reach exactly the
 * addresses and files its configuration names, and nothing else.
 */
import { fileURLToPath } from "node:url";
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
  /** Files or folders the library reads at run time (absolute). */
  read?: string[];
}

/**
 * Environment variables node-opcua and its PKI and crypto packages read when
 * loaded (debug switches, temp and XDG folders, OpenSSL and mutex settings).
 * Under --no-prompt reading one not granted throws NotCapable, so every one
 * is listed; found by running the client and the server sandboxed.
 */
const opcuaEnv = [
  "ARRAYLENGTH",
  "DEBUG",
  "DEBUG_CLASS",
  "DISPLAY_ASSERT",
  "FULLBUFFER",
  "GLOBAL_MUTEX_PROVIDER",
  "IGNORE_SUBTLE_FROM_CRYPTO",
  "NODEOPCUA*",
  "NODE_NDEBUG",
  "NO_CREATE_PRIVATEKEY",
  "OPCUA_PKI_*",
  "OPENSSL_CONF",
  "TEMP",
  "TMP",
  "TMPDIR",
  "VERBOSE",
  "XDG_*",
];

/**
 * The npm package folders the OPC UA server reads at run time: the standard
 * nodeset XML and the packages' own files. They sit in node_modules next to
 * deno.json (nodeModulesDir "auto", so the path needs no environment
 * variable to find); a compiled binary embeds them. The versions are the
 * ones deno.lock pins (checked by a test).
 */
export const opcuaServerPackages = [
  "node-opcua-nodesets@2.185.0",
  "node-opcua-address-space@2.186.4",
  "node-opcua-server@2.186.4",
];

/**
 * Extra needs of the libraries behind each adapter, keyed by adapter kind.
 * Each entry is justified where the adapter is written.
 */
export const libraryNeeds: Record<string, LibraryNeeds> = {
  /** The OPC UA client: the application certificate names the host and user. */
  opcua: { env: opcuaEnv, sys: ["homedir", "hostname", "uid"] },
  /** The OPC UA server also lists its network interfaces for its endpoints. */
  opcuaServer: {
    env: opcuaEnv,
    sys: ["homedir", "hostname", "networkInterfaces", "uid"],
    read: opcuaServerPackages.map((p) =>
      fileURLToPath(new URL(`../node_modules/.deno/${p}`, import.meta.url))
    ),
  },
  // mqtt.js imports `debug`, which enumerates the environment when loaded; these
  // reads (DEBUG and friends, plus the proxy and ws probes) return undefined instead of failing.
  mqtt: { ignoreEnv: ["DEBUG", "READABLE_STREAM", "MQTTJS_SOCKS_PROXY", "WS_NO_BUFFER_UTIL"] },
};

/**
 * True inside a `deno compile` binary, whose modules live under a
 * `deno-compile-<name>` virtual folder. Deno grants reads of the embedded npm
 * packages implicitly there (denoland/deno#19281).
 */
const runningCompiled = /[\\/]deno-compile-/.test(fileURLToPath(import.meta.url));

/**
 * Derives the permission set of a hop; `configFile` is read at startup under
 * `deno run`. With `embeddedPackages` (for `deno compile`, and inside a built
 * binary) the library package folders are left out: they are embedded.
 */
export function derivePermissions(
  c: HopConfig,
  options: { configFile?: string; embeddedPackages?: boolean } = {},
): PermissionSet {
  const embedded = options.embeddedPackages ?? runningCompiled;
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
    if (!embedded) { for (const v of libraryNeeds[kind]?.read ?? []) read.add(v); }
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
    need(c.opcuaServer ? "opcuaServer" : "opcua");
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
