/**
 * What the OPC UA adapters need of the sandbox beyond what the configuration
 * names: node-opcua's environment variables, system information and, for
 * the server under `deno run`, its package folders. Found by running the
 * client and the server sandboxed.
 */
import { fileURLToPath } from "node:url";
import {
  formatHostPort,
  type HopConfig,
  type PermissionNeeds,
  withRealPaths,
} from "../../core/mod.ts";

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

/** node-opcua's needs: the client's application certificate names the host and user. */
export const opcuaClientNeeds: PermissionNeeds = {
  env: opcuaEnv,
  sys: ["homedir", "hostname", "uid"],
};

/** The server also lists its network interfaces for its endpoints, and reads its nodesets. */
export const opcuaServerNeeds: PermissionNeeds & { read: string[] } = {
  env: opcuaEnv,
  sys: ["homedir", "hostname", "networkInterfaces", "uid"],
  /** Resolved once, when first asked (by the launcher, not by the sandboxed hop). */
  get read(): string[] {
    return serverPackageDirs ??= withRealPaths(
      opcuaServerPackages.map((p) =>
        fileURLToPath(new URL(`../../node_modules/.deno/${p}`, import.meta.url))
      ),
    );
  },
};
let serverPackageDirs: string[] | undefined;

/** The permissions an OPC UA configuration needs (none without --opcua or --opcua-server). */
export function opcuaPermissions(c: HopConfig, options: { embedded: boolean }): PermissionNeeds {
  if (c.opcua.length === 0 && !c.opcuaServer) return {};
  const lib = c.opcuaServer ? opcuaServerNeeds : opcuaClientNeeds;
  const net = c.opcua.map((e) => `${e.url.hostname}:${e.url.port}`);
  if (c.opcuaServer) net.push(formatHostPort(c.opcuaServer));
  const read = [c.opcuaPasswordFile, c.opcuaUserCert, c.opcuaUserKey].filter((f) =>
    f !== undefined
  );
  if (c.opcuaServer) read.push(c.opcuaUsers);
  if (!options.embedded) read.push(...(lib.read ?? []));
  return {
    net,
    read,
    env: [...(lib.env ?? []), ...(c.opcuaPasswordEnv ? [c.opcuaPasswordEnv] : [])],
    sys: lib.sys ?? [],
  };
}
