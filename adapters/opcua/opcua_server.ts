/**
 * The OPC UA server sink: the hop's mirrored data set as an address space
 * for in-house OPC UA clients. Each point is a variable in a folder tree
 * following its id (node id `ns=1;s=<point id>`), carrying the point's
 * value, status and source timestamp, so a client sees a broken upstream
 * link as the same bad status every hop sees. Writes go through the hop's
 * write policy toward the point's origin.
 */
import { join } from "node:path";
import {
  DataType as UaType,
  DataValue,
  type MessageSecurityMode,
  nodesets,
  OPCUACertificateManager,
  OPCUAServer,
  type SecurityPolicy,
  StatusCode,
  StatusCodes,
  type UAObject,
  type UAVariable,
  Variant,
} from "node-opcua";
import {
  type Adapter,
  type AdapterStatus,
  type DataType,
  elementType,
  type HopConfig,
  type HopContext,
  isArrayType,
  Status,
  StatusTracker,
  type StoredPoint,
  systemClock,
} from "../../core/mod.ts";
import { securityOf } from "./opcua_security.ts";
import { checkUser, readUsers } from "./opcua_users.ts";
import { routeLibraryLogs } from "./opcua_log.ts";
import { fromVariant, toVariant, uaDataType } from "./opcua_values.ts";

/** One exposed point. */
interface Exposed {
  variable: UAVariable;
  type: DataType;
  value: DataValue;
}

/** The status as node-opcua wants it: its registered constant, with the info bits when set. */
function statusCodeOf(code: number): StatusCode {
  const all = Object.values(StatusCodes) as StatusCode[];
  const exact = all.find((s) => s.value === code >>> 0);
  if (exact) return exact;
  const top = (code & 0xffff0000) >>> 0;
  const severity = top >>> 30 === 0
    ? StatusCodes.Good
    : top >>> 30 === 1
    ? StatusCodes.Uncertain
    : StatusCodes.Bad;
  const base = all.find((s) => s.value === top) ?? severity;
  return StatusCode.makeStatusCode(base, code & 0xffff);
}
const statusCache = new Map<number, StatusCode>();
function cachedStatus(code: number): StatusCode {
  let s = statusCache.get(code);
  if (!s) statusCache.set(code, s = statusCodeOf(code));
  return s;
}

/** The server adapter. */
export class OpcuaServerSink implements Adapter {
  readonly name = "opcua-server";
  readonly kind = "opcua";
  #config: HopConfig;
  #status: StatusTracker;
  #ctx: HopContext | null = null;
  #server: OPCUAServer | null = null;
  #managers: OPCUACertificateManager[] = [];
  #folders = new Map<string, UAObject>();
  #exposed = new Map<string, Exposed>();
  #unsubscribe: () => void = () => {};

  constructor(config: HopConfig) {
    this.#config = config;
    this.#status = new StatusTracker(this.name, this.kind, systemClock);
  }

  async start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    routeLibraryLogs();
    this.#status = new StatusTracker(this.name, this.kind, ctx.clock);
    const c = this.#config;
    const pki = join(c.dataDir, "opcua-server-pki");
    const certificates = new OPCUACertificateManager({
      rootFolder: pki,
      automaticallyAcceptUnknownCertificate: false,
      disableFileWatchers: true,
    });
    const userCertificates = new OPCUACertificateManager({
      rootFolder: join(pki, "users"),
      automaticallyAcceptUnknownCertificate: false,
      disableFileWatchers: true,
    });
    this.#managers = [certificates, userCertificates];
    await certificates.initialize();
    await userCertificates.initialize();
    const listen = c.opcuaServer!;
    const anyHost = listen.host === "0.0.0.0" || listen.host === "::";
    const modes = new Set<MessageSecurityMode>();
    const policies = new Set<SecurityPolicy>();
    // node-opcua offers every valid pairing of the listed modes and policies: listing
    // SignAndEncrypt:Basic256Sha256 and Sign:Aes256_Sha256_RsaPss also offers their crosses,
    // never None unless None is listed.
    for (const setting of c.opcuaServerSecurity) {
      const [mode, policy] = securityOf(setting);
      modes.add(mode);
      policies.add(policy);
    }
    // Read at every login, so users added with `hopgate users add` count without a restart.
    const usersFile = c.opcuaUsers;
    const server = new OPCUAServer({
      port: listen.port,
      // Both: `host` is the listen address (without it node-opcua listens on every interface).
      host: listen.host,
      hostname: anyHost ? Deno.hostname() : listen.host,
      resourcePath: "/hopgate",
      buildInfo: { productName: "hopgate", manufacturerName: "hopgate" },
      serverCertificateManager: certificates,
      userCertificateManager: userCertificates,
      securityModes: [...modes],
      securityPolicies: [...policies],
      allowAnonymous: c.opcuaServerAnonymous,
      userManager: {
        isValidUserAsync(user, password, callback) {
          readUsers(usersFile).then((file) => checkUser(file, user, password)).then(
            (ok) => callback(null, ok),
            () => callback(null, false),
          );
        },
      },
      nodesets: [nodesets.standard],
    });
    this.#server = server;
    await server.initialize();
    for (const p of ctx.store.values()) this.#onUpdate(p);
    this.#unsubscribe = ctx.store.subscribe({
      onUpdate: (p) => this.#onUpdate(p),
      onRemove: (p) => this.#onRemove(p.id),
    });
    await server.start();
    this.#status.running("running");
    this.#status.connection("connected");
    ctx.log.info("OPC UA server listening at {url} ({security}; anonymous {anonymous})", {
      url: server.getEndpointUrl(),
      security: c.opcuaServerSecurity.join(", "),
      anonymous: c.opcuaServerAnonymous ? "allowed" : "refused",
    });
  }

  async stop(): Promise<void> {
    this.#unsubscribe();
    await this.#server?.shutdown(0).catch(() => {});
    for (const m of this.#managers) await m.dispose().catch(() => {});
    this.#server = null;
    this.#status.running("stopped");
    this.#status.connection("down");
  }

  status(): AdapterStatus {
    return this.#status.get();
  }

  /** The folder of a path, made with its parents when missing. */
  #folder(path: string): UAObject {
    const server = this.#server!;
    const addressSpace = server.engine.addressSpace!;
    if (path === "") return addressSpace.rootFolder.objects;
    let folder = this.#folders.get(path);
    if (folder) return folder;
    const slash = path.lastIndexOf("/");
    const parent = this.#folder(slash < 0 ? "" : path.slice(0, slash));
    folder = addressSpace.getOwnNamespace().addFolder(parent, {
      browseName: path.slice(slash + 1),
      // The trailing slash keeps a folder apart from a point of the same id.
      nodeId: `s=${path}/`,
    });
    this.#folders.set(path, folder);
    return folder;
  }

  #dataValue(p: StoredPoint): DataValue {
    const variant = p.value === null
      ? new Variant({ dataType: UaType.Null })
      : new Variant(toVariant(p.type, p.value));
    return new DataValue({
      value: variant,
      statusCode: cachedStatus(p.status),
      sourceTimestamp: new Date(p.time),
      serverTimestamp: new Date(),
    });
  }

  #onUpdate(p: StoredPoint): void {
    if (!this.#server) return;
    let e = this.#exposed.get(p.id);
    if (e && e.type !== p.type) {
      this.#onRemove(p.id);
      e = undefined;
    }
    const value = this.#dataValue(p);
    if (!e) {
      e = this.#expose(p, value);
      this.#exposed.set(p.id, e);
      return;
    }
    e.value = value;
    e.variable.setValueFromSource(value.value, value.statusCode, value.sourceTimestamp!);
  }

  #expose(p: StoredPoint, value: DataValue): Exposed {
    const slash = p.id.lastIndexOf("/");
    const namespace = this.#server!.engine.addressSpace!.getOwnNamespace();
    const variable = namespace.addVariable({
      componentOf: this.#folder(slash < 0 ? "" : p.id.slice(0, slash)),
      browseName: p.id.slice(slash + 1),
      nodeId: `s=${p.id}`,
      dataType: uaDataType(elementType(p.type)),
      valueRank: isArrayType(p.type) ? 1 : -1,
      accessLevel: "CurrentRead | CurrentWrite",
      userAccessLevel: "CurrentRead | CurrentWrite",
      minimumSamplingInterval: 0,
    });
    const exposed: Exposed = { variable, type: p.type, value };
    variable.bindVariable({
      timestamped_get: () => exposed.value,
      timestamped_set: (dv: DataValue) => this.#write(p.id, exposed, dv),
    }, true);
    variable.setValueFromSource(value.value, value.statusCode, value.sourceTimestamp!);
    return exposed;
  }

  #onRemove(id: string): void {
    const e = this.#exposed.get(id);
    if (!e || !this.#server) return;
    this.#exposed.delete(id);
    this.#server.engine.addressSpace!.deleteNode(e.variable);
  }

  /** A write from an OPC UA client: through this hop's policy toward the origin; its status is the answer. */
  async #write(id: string, e: Exposed, dv: DataValue): Promise<StatusCode> {
    const typed = fromVariant(dv.value);
    if (!typed || typed.type !== e.type) return cachedStatus(Status.BadTypeMismatch);
    const status = await this.#ctx!.write({ id, value: typed.value, via: [] });
    return cachedStatus(status);
  }
}
