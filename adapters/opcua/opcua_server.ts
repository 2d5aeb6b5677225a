/**
 * The OPC UA server sink: the hop's mirrored data set as an address space
 * for in-house OPC UA clients. Each point is a variable in a folder tree
 * following its id (node id `s=<point id>` in the namespace
 * `urn:hopgate:<hop>`, index 2), carrying the point's
 * value, status and source timestamp, so a client sees a broken upstream
 * link as the same bad status every hop sees. Writes go through the hop's
 * write policy toward the point's origin.
 */
import { join } from "node:path";
import {
  type CallbackT,
  DataType as UaType,
  type DataValue,
  MessageSecurityMode,
  type Namespace,
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
import type { Certificate } from "node-opcua-crypto";
import {
  type Adapter,
  type AdapterStatus,
  type DataType,
  elementType,
  type HopConfig,
  type HopContext,
  isArrayType,
  notStarted,
  PointQueue,
  RefusalLog,
  Status,
  statusName,
  type StoredPoint,
} from "../../core/mod.ts";
import { auditServer } from "./opcua_audit.ts";
import { ensureApplicationCertificate } from "./opcua_certificate.ts";
import { applicationNames, interfaceAddresses } from "./opcua_names.ts";
import { serveOnChange } from "./opcua_on_change.ts";
import { installChangedItemHarvest } from "./opcua_changed_items.ts";
import { securityOf } from "./opcua_security.ts";
import { certificateFacts, rejectedFile, reloadOnChange } from "./opcua_trust.ts";
import { checkUser, readUsers } from "./opcua_users.ts";
import { routeLibraryLogs } from "./opcua_log.ts";
import {
  dataValueProblem,
  fromVariant,
  shownVariant,
  uaDataType,
  type Unfit,
} from "./opcua_values.ts";

/** One exposed point. */
interface Exposed {
  variable: UAVariable;
  type: DataType;
}

/**
 * The DataValue node-opcua holds for a variable: what its last
 * `setValueFromSource` stored (its `$dataValue`, which node-opcua's typings
 * declare on dynamic arrays only).
 */
function heldValue(variable: UAVariable): DataValue {
  return (variable as UAVariable & { $dataValue: DataValue }).$dataValue;
}

/**
 * One getter and one setter for every exposed variable, which find the point
 * by the variable they are called on. node-opcua takes a client's write only
 * through a bound setter, and a setter only with a getter; the getter hands
 * back what the variable holds. A pair of closures and a DataValue of the
 * hop's own for each point cost about 420 bytes of heap a point (node-opcua's
 * variable itself about 2,450).
 *
 * The getter answers through its callback, at once. node-opcua calls a getter
 * that takes no argument at each client read and stores what it returned a
 * microtask later, if that differs from what the variable holds then: a change
 * handed over in between (the sink's flush is a microtask too) was overwritten
 * by the state before it, and a point that changed no more read stale for
 * good (an OPC UA client read a restored plant's points as
 * UncertainNoCommunicationLastUsableValue while the hop's store had them Good).
 * Answered at once, the getter hands back what the variable holds, which
 * node-opcua then leaves alone.
 */
function sharedBinding(write: (variable: UAVariable, dv: DataValue) => Promise<StatusCode>) {
  return {
    timestamped_get(this: UAVariable, done: CallbackT<DataValue>): void {
      done(null, heldValue(this));
    },
    timestamped_set(this: UAVariable, dv: DataValue): Promise<StatusCode> {
      return write(this, dv);
    },
  };
}

/** The point's value as a Variant, or why it cannot be one (see {@link dataValueProblem}). */
function variantOf(p: StoredPoint): Variant | Unfit {
  const unfit = dataValueProblem(p);
  if (unfit !== null) return unfit;
  try {
    return new Variant(shownVariant(p.type, p.value));
  } catch (e) {
    // A case the check missed: node-opcua refused the value.
    return {
      status: StatusCodes.BadDataEncodingInvalid.value,
      reason: (e as Error)?.message ?? String(e),
    };
  }
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
/** Codes cached at most: a peer sending ever new codes must not grow the cache without end. */
const maxCachedStatuses = 4096;
function cachedStatus(code: number): StatusCode {
  let s = statusCache.get(code);
  if (!s) {
    s = statusCodeOf(code);
    if (statusCache.size < maxCachedStatuses) statusCache.set(code, s);
  }
  return s;
}

/** `address:port` of a channel or socket. */
function remoteOf(
  c: { remoteAddress?: string | undefined; remotePort?: number | undefined },
): string {
  return `${c.remoteAddress ?? "?"}:${c.remotePort ?? "?"}`;
}

/** Refused client applications explained in a line each; beyond, they are counted. */
const maxExplained = 256;

/** The namespace URI of the points a hop serves: `urn:hopgate:<hop>`. */
export function pointNamespaceUri(hop: string): string {
  return `urn:hopgate:${hop}`;
}

/**
 * The endpoints a server offers, grouped by URL in its order:
 * `opc.tcp://host:4840/hopgate (SignAndEncrypt:Basic256Sha256, None)`, and how many.
 */
export function offeredEndpoints(server: OPCUAServer): { count: number; text: string } {
  const byUrl = new Map<string, string[]>();
  let count = 0;
  // node-opcua adds a restricted None endpoint for discovery only (GetEndpoints, not
  // sessions) when None is not listed; clients are never offered it.
  const offered = server.endpoints.flatMap((e) => e.endpointDescriptions()).filter((d) =>
    !(d as { restricted?: boolean }).restricted
  );
  for (const d of offered) {
    const policy = (d.securityPolicyUri ?? "").split("#")[1] ?? "None";
    const mode = MessageSecurityMode[d.securityMode];
    const url = d.endpointUrl ?? "";
    byUrl.set(url, [...byUrl.get(url) ?? [], mode === "None" ? "None" : `${mode}:${policy}`]);
    count++;
  }
  const text = [...byUrl].map(([url, security]) => `${url} (${security.join(", ")})`).join("; ");
  return { count, text };
}

/** A map that forgets its oldest entry beyond `max` entries. */
class BoundedMap<K, V> extends Map<K, V> {
  #max: number;
  constructor(max: number) {
    super();
    this.#max = max;
  }
  override set(key: K, value: V): this {
    super.delete(key);
    super.set(key, value);
    if (this.size > this.#max) super.delete(this.keys().next().value!);
    return this;
  }
}

/** How long one turn of the event loop hands queued changes to node-opcua, ms. */
const flushSliceMs = 20;

/** Points whose misfit is logged one by one; beyond, one line says more are not. */
const maxUnfitLogged = 100;

/** The server adapter. */
export class OpcuaServerSink implements Adapter {
  readonly name = "opcua-server";
  readonly kind = "opcua";
  #config: HopConfig;
  #ctx: HopContext | null = null;
  #server: OPCUAServer | null = null;
  #managers: OPCUACertificateManager[] = [];
  #folders = new Map<string, UAObject>();
  #exposed = new Map<string, Exposed>();
  /** What every exposed variable is bound with (see {@link sharedBinding}). */
  #binding = sharedBinding((variable, dv) => this.#clientWrite(variable, dv));
  /** Points whose value did not fit their OPC UA type, logged once each while exposed. */
  #unfitLogged = new Set<string>();
  #unfitCapped = false;
  #unsubscribe: () => void = () => {};
  #namespace: Namespace | null = null;
  #refusals: RefusalLog | null = null;
  /** Certificates refused by the last checks, until their channel's failure is logged. */
  #refusedCertificates = new BoundedMap<string, StatusCode>(1024);
  /** Refused client applications already explained in a line of their own. */
  #explained = new Set<string>();
  #unwatch: () => void = () => {};
  /** Points changed since they were last handed to node-opcua, each once with its latest state. */
  #changed = new PointQueue();
  /** A flush is due (in a microtask, or on {@link #flushTimer} after a full slice). */
  #flushDue = false;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(config: HopConfig) {
    this.#config = config;
  }

  async start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    routeLibraryLogs();
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
    const names = applicationNames(ctx.hop, { listen, interfaces: interfaceAddresses });
    await ensureApplicationCertificate(certificates, join(pki, "own", "certs", "certificate.pem"), {
      names,
      log: ctx.log,
      role: "server",
    });
    const refusals = new RefusalLog({ log: ctx.log, clock: ctx.clock });
    this.#refusals = refusals;
    // Trusted certificates count from the next connection; refused ones are explained.
    await reloadOnChange(certificates, pki, (cert, status) => {
      if (status.isNotGood()) {
        this.#refusedCertificates.set(certificateFacts(cert).thumbprint, status);
      }
    });
    await reloadOnChange(userCertificates, join(pki, "users"));
    const modes = new Set<MessageSecurityMode>();
    const policies = new Set<SecurityPolicy>();
    // node-opcua offers every valid pairing of the listed modes and policies: listing
    // SignAndEncrypt:Basic256Sha256 and Sign:Aes256_Sha256_RsaPss also offers their crosses,
    // never None unless None is listed. The startup line lists what is offered.
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
      serverInfo: {
        applicationUri: names.applicationUri,
        applicationName: { text: names.applicationName, locale: "en" },
        productUri: "urn:hopgate",
      },
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
    // The points' own namespace, apart from node-opcua's (ns=1, its diagnostics and server objects).
    const namespace = server.engine.addressSpace!.registerNamespace(pointNamespaceUri(ctx.hop));
    this.#namespace = namespace;
    if (!serveOnChange(namespace)) {
      ctx.log.warn(
        "This node-opcua cannot serve the points' monitored items on change: clients that ask for a sampling interval above 0 have every item read on a timer, which costs CPU even when nothing changes",
      );
    }
    if (!installChangedItemHarvest()) {
      ctx.log.warn(
        "This node-opcua cannot keep its subscriptions' changed items apart: every monitored item is looked at at each publish, which costs CPU with many items",
      );
    }
    // A refused application certificate closes its channel (node-opcua emits no failure event
    // for it); other failures to open a channel have their own event.
    server.on("closeChannel", (channel) => {
      const cert = channel.clientCertificate;
      const status = cert ? this.#refusedCertificates.get(certificateFacts(cert).thumbprint) : null;
      if (cert && status) void this.#refusedCertificate(pki, remoteOf(channel), cert, status);
    });
    server.on("openSecureChannelFailure", (socket) => {
      this.#refusals?.refuse({
        reason: "secure channel failed",
        remote: remoteOf(socket),
        detail: String(socket.reason ?? "the secure channel could not be opened"),
      });
    });
    this.#unwatch = auditServer(server, {
      namespace: namespace.index,
      log: ctx.log.getChild("audit"),
      clock: ctx.clock,
      refusals,
      usersFile,
      userPki: join(pki, "users"),
    });
    let failed = 0;
    for (const p of ctx.store.values()) {
      // As the store does for its sinks: a point this sink cannot take is no reason not to start.
      try {
        this.#onUpdate(p);
      } catch (e) {
        ctx.status.sinkError(e, p);
        if (failed++ === 0) {
          ctx.log.error("Exposing point {id} failed: {error}; the server starts without it", {
            id: p.id,
            error: (e as Error)?.message ?? String(e),
          });
        }
      }
    }
    this.#unsubscribe = ctx.store.subscribe({
      onUpdate: (p) => this.#queue(p),
      onRemove: (p) => {
        this.#changed.delete(p);
        this.#onRemove(p.id);
      },
    }, { name: this.name, onError: (e, p) => ctx.status.sinkError(e, p) });
    await server.start();
    ctx.status.running("running");
    ctx.status.connection("connected");
    const offered = offeredEndpoints(server);
    ctx.log.info(
      "OPC UA server listening as {uri} with {count} endpoints: {endpoints}; points in namespace {ns} ({namespace}); anonymous {anonymous}",
      {
        uri: names.applicationUri,
        count: offered.count,
        endpoints: offered.text,
        ns: namespace.index,
        namespace: namespace.namespaceUri,
        anonymous: c.opcuaServerAnonymous ? "allowed" : "refused",
      },
    );
  }

  /** A client whose application certificate was refused: whose it is, where it was saved, what to do. */
  async #refusedCertificate(
    pki: string,
    remote: string,
    cert: Certificate,
    status: StatusCode,
  ): Promise<void> {
    const facts = certificateFacts(cert);
    this.#refusedCertificates.delete(facts.thumbprint);
    const file = await rejectedFile(pki, facts.thumbprint);
    const trusted = join(pki, "trusted", "certs");
    const who = `${
      facts.uri || "no application URI"
    } ("${facts.name}", thumbprint ${facts.thumbprint})`;
    const detail = status.value === StatusCodes.BadCertificateUntrusted.value
      ? `client application ${who} is not trusted (${status.name}); its certificate was saved as ${
        file ?? join(pki, "rejected")
      }: if you know it, move it to ${trusted} (it counts from the client's next connection)`
      : `client application ${who} has a certificate the hop refuses (${status.name}): issue it a valid one`;
    // Each refused application gets its line once (the first few hundred); repeats are counted.
    if (!this.#explained.has(facts.thumbprint) && this.#explained.size < maxExplained) {
      this.#explained.add(facts.thumbprint);
      this.#ctx?.log.warn("Refused a login from {remote}: {detail}", {
        remote,
        detail,
        reason: `certificate ${status.name}`,
      });
      return;
    }
    this.#refusals?.refuse({ reason: `certificate ${status.name}`, remote, detail, what: "login" });
  }
  async stop(): Promise<void> {
    this.#unsubscribe();
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#flushDue = false;
    this.#unwatch();
    this.#refusals?.flush();
    await this.#server?.shutdown(0).catch(() => {});
    for (const m of this.#managers) await m.dispose().catch(() => {});
    this.#server = null;
    this.#ctx?.status.running("stopped");
    this.#ctx?.status.connection("down");
  }

  /** Its status, with the points still waiting for node-opcua (see {@link #queue}) when some are. */
  status(): AdapterStatus {
    const status = this.#ctx?.status.get() ?? notStarted(this);
    const waiting = this.#changed.size;
    return waiting > 0
      ? { ...status, detail: `${waiting} point${waiting === 1 ? "" : "s"} waiting to be served` }
      : status;
  }

  /** The variable serving point `id`, while it is exposed (for diagnostics and tests). */
  variableOf(id: string): UAVariable | undefined {
    return this.#exposed.get(id)?.variable;
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
    folder = this.#namespace!.addFolder(parent, {
      browseName: path.slice(slash + 1),
      // The trailing slash keeps a folder apart from a point of the same id.
      nodeId: `s=${path}/`,
    });
    this.#folders.set(path, folder);
    return folder;
  }

  /**
   * Sets the point's value, status and source time on its variable (node-opcua
   * makes the DataValue; one of the hop's own beside it cost an allocation an
   * update). A value, time or status that does not fit (see
   * {@link dataValueProblem}) never reaches node-opcua: the variable reads as
   * BadOutOfRange or BadDataEncodingInvalid with no value instead.
   */
  #setValue(variable: UAVariable, p: StoredPoint): void {
    const fit = variantOf(p);
    if (fit instanceof Variant) {
      variable.setValueFromSource(fit, cachedStatus(p.status), new Date(p.time));
      return;
    }
    this.#unfit(p, fit);
    const time = new Date(p.time);
    variable.setValueFromSource(
      new Variant({ dataType: UaType.Null }),
      cachedStatus(fit.status),
      // A time that is no date is part of the misfit: the server's time stands in.
      Number.isNaN(time.getTime()) ? new Date() : time,
    );
  }

  /** A point that does not fit: in the status each time, in the log once per point. */
  #unfit(p: StoredPoint, unfit: Unfit): void {
    const message = `Point ${p.id} cannot be served as OPC UA ${p.type}: ${unfit.reason}; ` +
      `it reads as ${statusName(unfit.status)} until a value that fits arrives (check its source)`;
    this.#ctx?.status.error(message);
    if (this.#unfitLogged.has(p.id)) return;
    if (this.#unfitLogged.size < maxUnfitLogged) {
      this.#unfitLogged.add(p.id);
      this.#ctx?.log.warn("{message}", { message, id: p.id });
    } else if (!this.#unfitCapped) {
      this.#unfitCapped = true;
      this.#ctx?.log.warn(
        "More than {max} points do not fit their OPC UA type; further ones are not logged (the adapter status shows the latest)",
        { max: maxUnfitLogged },
      );
    }
  }

  /**
   * Queues a changed point for node-opcua. Setting a variable costs node-opcua
   * 10-20 µs and more for each client monitoring it, about ten times what the
   * hop's store takes for the change. Set as each change arrived, a hop
   * receiving faster than that spent all its time in them: its clients' publish
   * requests and timers waited behind the link's reads, and at 200,000
   * changes/s to 50,000 points a subscriber got 20,000 a second. Queued, the
   * changes are handed over once the current task is done (a microtask, so a
   * client reading after a change reads it) for up to {@link flushSliceMs};
   * what is left then waits for the next turn of the event loop, and a point
   * that changes again while it waits is set once, with its latest state (as
   * an OPC UA queue of one would keep it).
   */
  #queue(p: StoredPoint): void {
    this.#changed.add(p);
    if (this.#flushDue) return;
    this.#flushDue = true;
    queueMicrotask(() => this.#flush());
  }

  /** Hands queued points to node-opcua for up to {@link flushSliceMs}, then lets the event loop run. */
  #flush(): void {
    this.#flushTimer = undefined;
    if (!this.#server) {
      this.#flushDue = false;
      return;
    }
    const until = performance.now() + flushSliceMs;
    let n = 0;
    for (let p = this.#changed.shift(); p !== undefined; p = this.#changed.shift()) {
      try {
        this.#onUpdate(p);
      } catch (e) {
        this.#ctx?.status.sinkError(e, p);
      }
      if (++n % 256 === 0 && performance.now() > until) break;
    }
    if (this.#changed.size > 0) this.#flushTimer = setTimeout(() => this.#flush(), 0);
    else this.#flushDue = false;
  }

  #onUpdate(p: StoredPoint): void {
    if (!this.#server) return;
    let e = this.#exposed.get(p.id);
    if (e && e.type !== p.type) {
      this.#onRemove(p.id);
      e = undefined;
    }
    this.#setValue((e ?? this.#expose(p)).variable, p);
  }

  /** Adds the point's variable (without its value yet), known as exposed before anything else can fail. */
  #expose(p: StoredPoint): Exposed {
    const slash = p.id.lastIndexOf("/");
    const variable = this.#namespace!.addVariable({
      componentOf: this.#folder(slash < 0 ? "" : p.id.slice(0, slash)),
      browseName: p.id.slice(slash + 1),
      nodeId: `s=${p.id}`,
      dataType: uaDataType(elementType(p.type)),
      valueRank: isArrayType(p.type) ? 1 : -1,
      accessLevel: "CurrentRead | CurrentWrite",
      userAccessLevel: "CurrentRead | CurrentWrite",
      minimumSamplingInterval: 0,
    });
    const exposed: Exposed = { variable, type: p.type };
    this.#exposed.set(p.id, exposed);
    variable.bindVariable(this.#binding, true);
    return exposed;
  }

  #onRemove(id: string): void {
    this.#unfitLogged.delete(id);
    const e = this.#exposed.get(id);
    if (!e || !this.#server) return;
    this.#exposed.delete(id);
    this.#server.engine.addressSpace!.deleteNode(e.variable);
  }

  /** A client's write to `variable`, found by its node id (`s=<point id>`); gone since: BadNodeIdUnknown. */
  #clientWrite(variable: UAVariable, dv: DataValue): Promise<StatusCode> {
    const id = String(variable.nodeId.value);
    const e = this.#exposed.get(id);
    if (e?.variable !== variable) return Promise.resolve(cachedStatus(Status.BadNodeIdUnknown));
    return this.#write(id, e, dv);
  }

  /** A write from an OPC UA client: through this hop's policy toward the origin; its status is the answer. */
  async #write(id: string, e: Exposed, dv: DataValue): Promise<StatusCode> {
    try {
      const typed = fromVariant(dv.value);
      if (!typed || typed.type !== e.type) return cachedStatus(Status.BadTypeMismatch);
      const status = await this.#ctx!.write({ id, value: typed.value, via: [] });
      return cachedStatus(status);
    } catch (err) {
      // node-opcua awaits this promise in its request handling: a rejection must not escape.
      this.#ctx?.log.error("A client's write to {id} failed: {error}", {
        id,
        error: (err as Error)?.message ?? String(err),
      });
      return cachedStatus(Status.BadInternalError);
    }
  }
}
