/**
 * The OPC UA adapters: a source per PLC (--opcua) and a server exposing the
 * hop's mirrored set (--opcua-server). This face stays light: node-opcua
 * (about 1 s and 110 MB to load) is imported only when an OPC UA adapter
 * starts, so a hop without OPC UA never loads it. The imports are static
 * strings so that `deno compile` includes them.
 *
 * @example A PLC endpoint becomes a source and a net grant, without loading node-opcua
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import "../all.ts";
 * import { hopEnvFor, hopV8Flags, hopV8FlagsFor, resolveConfig } from "../../core/mod.ts";
 * import { opcuaAdapters, opcuaPlugin } from "./mod.ts";
 *
 * const config = resolveConfig([{
 *   label: null,
 *   baseDir: "/tmp",
 *   values: {
 *     name: "plant1",
 *     opcua: ["plc1=opc.tcp://10.0.0.20:4840"],
 *     "data-dir": "/tmp/hopgate-example", // named, never created
 *   },
 * }]);
 * assertEquals(config.opcua.map((e) => [e.name, e.url.href]), [["plc1", "opc.tcp://10.0.0.20:4840"]]);
 * assertEquals(opcuaPlugin.active(config), true);
 * assertEquals(opcuaPlugin.permissions(config, { embedded: true }).net, ["10.0.0.20:4840"]);
 * assertEquals(opcuaAdapters(config).map((a) => a.name), ["opcua:plc1"]); // lazy: nothing loaded yet
 *
 * // A PLC source lets V8's heap grow by 15% between full collections instead of 50%,
 * // and runs with one malloc arena.
 * assertEquals(
 *   hopV8FlagsFor(config),
 *   hopV8Flags.replace("--heap-growing-percent=50", "--heap-growing-percent=15"),
 * );
 * assertEquals(hopEnvFor(config), { MALLOC_ARENA_MAX: "1" });
 *
 * // Two PLCs under one name would mix their points' ids: a check says so before anything starts.
 * const twice = { ...config, opcua: [...config.opcua, ...config.opcua] };
 * assertEquals(opcuaPlugin.checks?.(twice, new Set()), [
 *   '--opcua: two servers are named "plc1"; name them apart',
 * ]);
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { type Adapter, type HopConfig, LazyAdapter, type Plugin } from "../../core/mod.ts";
import { type OpcuaEndpoint, opcuaOptions } from "./options.ts";
import { opcuaPermissions } from "./permissions.ts";

/**
 * One source per --opcua server, and the server when --opcua-server is set,
 * each loading its half of node-opcua when started. Writes reach a source
 * (the origin of its PLC's points); the server delivers no points, so none reach it.
 */
export function opcuaAdapters(config: HopConfig): Adapter[] {
  const out: Adapter[] = config.opcua.map((endpoint: OpcuaEndpoint) =>
    new LazyAdapter(`opcua:${endpoint.name}`, "opcua", async () => {
      const { OpcuaClientSource } = await import("./opcua_client.ts");
      return new OpcuaClientSource(endpoint, config);
    }, { writes: true })
  );
  if (config.opcuaServer) {
    out.push(
      new LazyAdapter("opcua-server", "opcua", async () => {
        const { OpcuaServerSink } = await import("./opcua_server.ts");
        return new OpcuaServerSink(config);
      }),
    );
  }
  return out;
}

/** The OPC UA plugin: PLC sources and the server (adapters/all.ts registers it). */
export const opcuaPlugin: Plugin = {
  name: "opcua",
  options: opcuaOptions,
  activatedBy: "--opcua",
  active: (c) => c.opcua.length > 0 || c.opcuaServer !== undefined,
  defaults(c) {
    c.opcuaUsers ??= join(c.dataDir, "users.json");
  },
  checks(c) {
    const out: string[] = [];
    if (c.opcuaUser && !c.opcuaPasswordFile && !c.opcuaPasswordEnv) {
      out.push("--opcua-user needs a password: pass --opcua-password-file or --opcua-password-env");
    }
    if (!!c.opcuaUserCert !== !!c.opcuaUserKey) {
      out.push("--opcua-user-cert and --opcua-user-key go together; pass both or neither");
    }
    const names = new Set<string>();
    for (const e of c.opcua) {
      if (names.has(e.name)) {
        out.push(`--opcua: two servers are named "${e.name}"; name them apart`);
      }
      names.add(e.name);
    }
    return out;
  },
  files(c) {
    const out: [string, string][] = [];
    if (c.opcuaServer && !c.opcuaServerAnonymous) {
      out.push([
        "opcuaUsers",
        `or add a user with: hopgate users add <user> --data-dir ${c.dataDir}`,
      ]);
    }
    for (const key of ["opcuaPasswordFile", "opcuaUserCert", "opcuaUserKey"] as const) {
      if (c[key] !== undefined) out.push([key, "or fix the path"]);
    }
    return out;
  },
  permissions: opcuaPermissions,
  adapters: opcuaAdapters,
  v8Flags: (c) => c.opcua.length > 0 ? [plcSourceHeapGrowth] : [],
  env: (c) => c.opcua.length > 0 ? plcSourceEnv : {},
};

/**
 * A hop reading PLCs runs with one glibc malloc arena instead of one for each
 * thread that met another in malloc (up to eight per core; fifteen in such a
 * hop with four threads left, holding 6.7 MB while ingesting). At 100,000 items
 * every 100 ms (tests/bench/opcua_ingest.ts, SignAndEncrypt) peak RSS 192–197 MB
 * with it against 194–202 MB without (seven and ten alternating runs), at the
 * same ingest, CPU and time to subscribe. Other hops keep glibc's arenas: a relay
 * held and forwarded as much with one, and a new hop's snapshot from a busy chain
 * came slower (four alternating pairs: 1,280–1,579 against 984–1,361 ms), its
 * start-up threads (V8's compilers and collector) then sharing the arena's lock.
 */
const plcSourceEnv: Readonly<Record<string, string>> = Object.freeze({ MALLOC_ARENA_MAX: "1" });

/**
 * A hop reading PLCs lets V8's heap grow by 15% between full collections
 * instead of the hops' 50%. Its garbage outside the heap (message buffers) is
 * freed by young collections, so full collections come only from the heap's
 * own growth, and what it promotes is small: at 100,000 items every 100 ms
 * (tests/bench/opcua_ingest.ts, SignAndEncrypt) peak RSS 211–214 MB at 41–43%
 * of a core with 50%, 195–197 MB at 47–51% with 15% (10%: 193–198 MB at
 * 48–53%; 20–30%: 201–205 MB at 43–49%). A hop that only serves OPC UA keeps
 * the default. (With node-opcua's objects per change a PLC source once needed
 * 32 MB semi-spaces; its data changes are decoded into columns since.)
 */
const plcSourceHeapGrowth = "--heap-growing-percent=15";

export {
  type OpcuaConfig,
  type OpcuaEndpoint,
  opcuaOptions,
  opcuaSecurityChoices,
} from "./options.ts";
export {
  opcuaClientNeeds,
  opcuaPermissions,
  opcuaServerNeeds,
  opcuaServerPackages,
} from "./permissions.ts";
export { usersAdd } from "./opcua_users.ts";
export { type IssuedOpcuaCertificates, issueOpcuaCertificates } from "./opcua_ca.ts";
