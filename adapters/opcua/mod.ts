/**
 * The OPC UA adapters: a source per PLC (--opcua) and a server exposing the
 * hop's mirrored set (--opcua-server). This face stays light: node-opcua
 * (about 1 s and 110 MB to load) is imported only when an OPC UA adapter
 * starts, so a hop without OPC UA never loads it. The imports are static
 * strings so that `deno compile` includes them.
 */
import { join } from "node:path";
import {
  type Adapter,
  type AdapterStatus,
  type HopConfig,
  type HopContext,
  type Plugin,
  type StatusCode,
  StatusTracker,
  systemClock,
  type WriteRequest,
} from "../../core/mod.ts";
import { type OpcuaEndpoint, opcuaOptions } from "./options.ts";
import { opcuaPermissions } from "./permissions.ts";

/** An adapter whose implementation is loaded when it starts. */
class LazyAdapter implements Adapter {
  readonly name: string;
  readonly kind = "opcua";
  #load: () => Promise<Adapter>;
  #real: Adapter | null = null;
  #starting: Promise<void> | null = null;
  #idle: StatusTracker;

  constructor(name: string, load: () => Promise<Adapter>) {
    this.name = name;
    this.#load = load;
    this.#idle = new StatusTracker(name, this.kind, systemClock);
  }

  start(ctx: HopContext): Promise<void> {
    this.#starting = (async () => {
      this.#real = await this.#load();
      await this.#real.start(ctx);
    })();
    return this.#starting;
  }

  /** A stop that arrives while starting (SIGTERM during startup) waits for the start, then undoes it. */
  async stop(): Promise<void> {
    await this.#starting?.catch(() => {});
    await this.#real?.stop();
  }

  status(): AdapterStatus {
    return this.#real?.status() ?? this.#idle.get();
  }

  write(request: WriteRequest): Promise<StatusCode> {
    const real = this.#real;
    if (!real?.write) return Promise.reject(new Error(`${this.name} cannot write yet`));
    return real.write(request);
  }
}

/** One source per --opcua server, and the server when --opcua-server is set. */
export function opcuaAdapters(config: HopConfig): Adapter[] {
  const out: Adapter[] = config.opcua.map((endpoint: OpcuaEndpoint) =>
    new LazyAdapter(`opcua:${endpoint.name}`, async () => {
      const { OpcuaClientSource } = await import("./opcua_client.ts");
      return new OpcuaClientSource(endpoint, config);
    })
  );
  if (config.opcuaServer) {
    out.push(
      new LazyAdapter("opcua-server", async () => {
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
};

export { type OpcuaConfig, type OpcuaEndpoint, opcuaSecurityChoices } from "./options.ts";
export {
  opcuaClientNeeds,
  opcuaPermissions,
  opcuaServerNeeds,
  opcuaServerPackages,
} from "./permissions.ts";
export { usersAdd } from "./opcua_users.ts";
