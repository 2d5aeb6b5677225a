/**
 * The OPC UA source: reads one PLC's OPC UA server into the hop's store
 * through subscriptions, and writes back to it. The adapter runs its own
 * reconnect loop (core/backoff.ts) instead of node-opcua's internal retry:
 * every loss is seen, failed into the store with its cause, and followed by
 * a fresh connect, browse and subscribe, however long the PLC is gone.
 */
import { join } from "node:path";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import {
  AttributeIds,
  ClientMonitoredItemGroup,
  type ClientSession,
  type DataValue,
  type NodeId,
  OPCUAClient,
  StatusCodes,
  TimestampsToReturn,
  type UserIdentityInfo,
  UserTokenType,
  VariableIds,
} from "node-opcua-client";
import { readCertificate } from "node-opcua-crypto";
import {
  type Adapter,
  type AdapterStatus,
  Backoff,
  type DataType,
  type HopConfig,
  type HopContext,
  notStarted,
  type ScalarType,
  sleep,
  Status,
  type StatusCode,
  withTimeout,
  type WriteRequest,
} from "../../core/mod.ts";
import type { OpcuaEndpoint } from "./options.ts";
import { browseVariables, pathFilter, pathOf } from "./opcua_browse.ts";
import { routeLibraryLogs } from "./opcua_log.ts";
import { ensureApplicationCertificate } from "./opcua_certificate.ts";
import { applicationNames } from "./opcua_names.ts";
import { securityOf } from "./opcua_security.ts";
import { certificateFacts } from "./opcua_trust.ts";
import { fromVariant, scalarTypeOf, toVariant } from "./opcua_values.ts";

/** The folder of the hop's OPC UA application certificate and trust lists. */
export function pkiFolder(config: HopConfig): string {
  return join(config.dataDir, "opcua-pki");
}

/** One variable being read: where it is on the PLC and which point it feeds. */
interface Item {
  id: string;
  nodeId: string;
  type: DataType | null;
}

/** Raised inside a session when the connection or session is lost. */
class Lost extends Error {}

/** Longest any single step (connect, browse, subscribe) may take before the attempt is given up. */
const stepTimeout = 60_000;

/** The OPC UA client source of one PLC. */
export class OpcuaClientSource implements Adapter {
  readonly name: string;
  readonly kind = "opcua";
  #endpoint: OpcuaEndpoint;
  #config: HopConfig;
  #ctx: HopContext | null = null;
  #stop = new AbortController();
  #loop: Promise<void> | null = null;
  #session: ClientSession | null = null;
  #items = new Map<string, Item>();
  /** Whether the current connection attempt's loss was already reported. */
  #reported = false;
  /** The outage under way (one warning when it starts, one when it ends), or null while connected. */
  #outage: { since: number; attempts: number; kinds: Set<string> } | null = null;
  /** Whether the application certificate was checked since the adapter started. */
  #certified = false;

  constructor(endpoint: OpcuaEndpoint, config: HopConfig) {
    this.#endpoint = endpoint;
    this.#config = config;
    this.name = `opcua:${endpoint.name}`;
  }

  start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    routeLibraryLogs();
    ctx.status.running("running");
    ctx.signal.addEventListener("abort", () => this.#stop.abort(), { once: true });
    this.#loop = this.#run(ctx);
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    this.#ctx?.status.running("stopped");
    this.#ctx?.status.connection("down");
  }

  status(): AdapterStatus {
    return this.#ctx?.status.get() ?? notStarted(this);
  }

  /** Writes to the PLC variable behind a point; the PLC's status code is the result. */
  async write(request: WriteRequest): Promise<StatusCode> {
    const item = this.#items.get(request.id);
    const session = this.#session;
    if (!item || !item.type) return Status.BadNodeIdUnknown;
    if (!session) return Status.BadNotConnected;
    const result = await session.write({
      nodeId: item.nodeId,
      attributeId: AttributeIds.Value,
      value: { value: toVariant(item.type, request.value) },
    });
    return result.value >>> 0;
  }

  /** Connects, serves until lost, fails the points, waits, and again, until stopped. */
  async #run(ctx: HopContext): Promise<void> {
    const backoff = new Backoff({ initial: 500, max: 15_000 });
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      ctx.status.connection("connecting");
      this.#reported = false;
      let reason: string;
      try {
        reason = await this.#connectOnce(ctx, () => backoff.reset());
      } catch (e) {
        reason = (e as Error).message;
      }
      if (signal.aborted) break;
      this.#down(ctx, reason);
      const delay = backoff.next();
      ctx.log.debug("Reconnecting to {source} in {delay} ms", { source: this.name, delay });
      // Stopping cuts the wait short.
      await sleep(delay, { clock: ctx.clock, signal }).catch(() => {});
    }
  }

  /**
   * Marks every point of this PLC with the failure status and its cause, at
   * the moment the loss is seen (not after the connection is torn down).
   * Once per connection attempt.
   */
  #down(ctx: HopContext, reason: string): void {
    if (this.#reported || this.#stop.signal.aborted) return;
    this.#reported = true;
    this.#session = null;
    ctx.status.connection("down", reason);
    const failed = ctx.failAll(reason);
    const outage = this.#outage;
    if (outage) {
      // One warning per outage: later attempts are counted, and a new kind of reason is said once.
      outage.attempts++;
      // The same reason with other numbers (ports, milliseconds) is no new kind.
      const kind = reason.replace(/\d+/g, "#");
      if (!outage.kinds.has(kind) && outage.kinds.size < 8) {
        outage.kinds.add(kind);
        ctx.log.warn("{source} is still unreachable, now because: {reason}", {
          source: this.name,
          reason,
        });
      } else {
        ctx.log.debug("{source} is still unreachable (attempt {attempt}): {reason}", {
          source: this.name,
          attempt: outage.attempts,
          reason,
        });
      }
      return;
    }
    this.#outage = {
      since: ctx.clock.now(),
      attempts: 1,
      kinds: new Set([reason.replace(/\d+/g, "#")]),
    };
    ctx.log.warn(
      "{source} at {url} is lost or unreachable: {reason}; {failed} points marked; retrying (one line when it is back)",
      { source: this.name, url: this.#endpoint.url.href, reason, failed },
    );
  }

  /** Ends the outage under way, if any, with one line saying how long it lasted. */
  #back(ctx: HopContext): void {
    const outage = this.#outage;
    if (!outage) return;
    this.#outage = null;
    ctx.log.warn("{source} is back after {seconds} s and {attempts} failed attempts", {
      source: this.name,
      seconds: Math.round((ctx.clock.now() - outage.since) / 100) / 10,
      attempts: outage.attempts,
    });
  }

  /**
   * One connection: connect, open the session, find the variables, read and
   * subscribe, then wait for the loss. Resolves with the reason of the loss.
   */
  async #connectOnce(ctx: HopContext, connected: () => void): Promise<string> {
    const c = this.#config;
    const pki = pkiFolder(c);
    // A fresh manager per attempt, so a certificate moved into trusted/ counts at the next reconnect.
    const certificates = new OPCUACertificateManager({
      rootFolder: pki,
      automaticallyAcceptUnknownCertificate: c.opcuaTrustUnknown,
      disableFileWatchers: true,
    });
    const [mode, policy] = securityOf(c.opcuaSecurity);
    const names = applicationNames(ctx.hop);
    const ownCertificate = join(pki, "own", "certs", "client_certificate.pem");
    const client = OPCUAClient.create({
      applicationName: names.applicationName,
      applicationUri: names.applicationUri,
      clientCertificateManager: certificates,
      certificateFile: ownCertificate,
      securityMode: mode,
      securityPolicy: policy,
      endpointMustExist: false,
      keepSessionAlive: true,
      requestedSessionTimeout: 60_000,
      // One try: the reconnect loop is ours.
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    });
    let lose: (why: string) => void = () => {};
    // Events after the teardown starts (our own disconnect closes the connection) are no loss.
    let tearingDown = false;
    const lost = new Promise<string>((resolve) => (lose = (why) => tearingDown || resolve(why)));
    void lost.then((why) => this.#down(ctx, why));
    const onAbort = () => lose("stopped");
    this.#stop.signal.addEventListener("abort", onAbort, { once: true });
    client.on("connection_lost", () => lose("connection lost"));
    client.on("close", () => lose("connection closed"));
    const step = <T>(what: string, p: Promise<T>) => untilLost(what, p, lost);
    let lastHeard = Date.now();
    let watchdog: ReturnType<typeof setInterval> | undefined;
    try {
      await certificates.initialize();
      if (!this.#certified) {
        await ensureApplicationCertificate(certificates, ownCertificate, {
          names,
          log: ctx.log,
          role: "client",
        });
        this.#certified = true;
      }
      await step("connect", client.connect(this.#endpoint.url.href)).catch(async (e: Error) => {
        throw new Error(await explain(e, pki, ownCertificate));
      });
      const session = await step("create session", client.createSession(await this.#identity()));
      session.on("keepalive_failure", () => lose("session keep-alive failed"));
      session.on("session_closed", () => lose("session closed by the server"));
      const limits = await step("read limits", readLimits(session));
      const found = await step("find variables", this.#find(session, limits.perBrowse));
      await step("read data types", declareTypes(session, found, limits.perRead));
      await step("read values", this.#readAll(ctx, session, found, limits.perRead));
      // Variables of types hopgate does not carry (structures) are not points: not monitored.
      const items = found.filter((it) => it.type !== null);
      const monitoring = await step(
        "subscribe",
        this.#subscribe(
          ctx,
          session,
          items,
          limits,
          () => lose("subscription terminated"),
          () => (lastHeard = Date.now()),
        ),
      );
      lastHeard = Date.now();
      // A PLC that stops answering without closing the connection (frozen, cable pulled
      // behind a switch) is noticed by its missing keep-alives, not only by TCP much later.
      watchdog = setInterval(() => {
        const quiet = Date.now() - lastHeard;
        if (quiet > monitoring.silence) lose(`no keep-alive from the PLC for ${quiet} ms`);
      }, 1_000);
      this.#session = session;
      ctx.status.connection("connected");
      connected();
      this.#back(ctx);
      ctx.log.info(
        "Connected to {source} at {url} ({security}): {count} variables, {monitored} monitored in {subs} subscriptions",
        {
          source: this.name,
          url: this.#endpoint.url.href,
          security: c.opcuaSecurity,
          count: items.length,
          monitored: monitoring.monitored,
          subs: monitoring.subscriptions,
        },
      );
      return await lost;
    } finally {
      tearingDown = true;
      clearInterval(watchdog);
      this.#session = null;
      this.#stop.signal.removeEventListener("abort", onAbort);
      // Closing must not hang the loop when the PLC is gone.
      await withTimeout(client.disconnect(), 2_000, { what: "disconnect" })
        .catch(() => {});
      await certificates.dispose().catch(() => {});
    }
  }

  async #identity(): Promise<UserIdentityInfo> {
    const c = this.#config;
    if (c.opcuaUserCert && c.opcuaUserKey) {
      return {
        type: UserTokenType.Certificate,
        certificateData: readCertificate(c.opcuaUserCert),
        privateKey: await Deno.readTextFile(c.opcuaUserKey),
      };
    }
    if (c.opcuaUser) {
      const password = c.opcuaPasswordFile
        ? (await Deno.readTextFile(c.opcuaPasswordFile)).replace(/\r?\n$/, "")
        : Deno.env.get(c.opcuaPasswordEnv ?? "") ?? "";
      return { type: UserTokenType.UserName, userName: c.opcuaUser, password };
    }
    return { type: UserTokenType.Anonymous };
  }

  /** The configured nodes plus everything browsed, as items keyed by point id. */
  async #find(session: ClientSession, perBrowse: number): Promise<Item[]> {
    const c = this.#config;
    const ctx = this.#ctx!;
    const found: { nodeId: string; path: string }[] = [];
    for (const nodeId of c.opcuaNodes) found.push({ nodeId, path: await pathOf(session, nodeId) });
    if (c.opcuaBrowse !== undefined || c.opcuaNodes.length === 0) {
      const keep = pathFilter(c.opcuaInclude, c.opcuaExclude);
      const browsed = await browseVariables(session, c.opcuaBrowse ?? "i=85", {
        perCall: perBrowse,
      });
      found.push(...browsed.filter((v) => keep(v.path)));
    }
    const items = new Map<string, Item>();
    const twins: string[] = [];
    for (const f of found) {
      const id = `${ctx.hop}/${this.#endpoint.name}/${f.path}`;
      const first = items.get(id);
      if (first === undefined) {
        items.set(id, { id, nodeId: f.nodeId, type: this.#items.get(id)?.type ?? null });
      } else if (first.nodeId !== f.nodeId) twins.push(`${f.nodeId} (${f.path})`);
    }
    if (twins.length > 0) {
      ctx.log.warn(
        "{count} variables share a browse path with another and are not read: {twins}; name them with --opcua-nodes or narrow --opcua-browse",
        { count: twins.length, twins: twins.slice(0, 10).join(", ") },
      );
    }
    for (const it of items.values()) {
      ctx.log.debug("Point {id} reads {nodeId}", { id: it.id, nodeId: it.nodeId });
    }
    const gone = ctx.removeAllBut(new Set(items.keys()));
    if (gone > 0) ctx.log.info("{gone} points of {source} are gone", { gone, source: this.name });
    this.#items = items;
    return [...items.values()];
  }

  /**
   * Reads every value once, so each point has its value and type before the
   * subscriptions start; a point whose type is declared appears first as
   * BadWaitingForInitialData.
   */
  async #readAll(ctx: HopContext, session: ClientSession, items: Item[], perRead: number) {
    const now = ctx.clock.now();
    for (const it of items) {
      if (it.type === null || ctx.store.get(it.id)) continue;
      ctx.apply({
        id: it.id,
        value: null,
        type: it.type,
        status: Status.BadWaitingForInitialData,
        time: now,
        hops: [],
        cause: null,
      });
    }
    for (let i = 0; i < items.length; i += perRead) {
      const chunk = items.slice(i, i + perRead);
      const values = await session.read(
        chunk.map((it) => ({ nodeId: it.nodeId, attributeId: AttributeIds.Value })),
      );
      chunk.forEach((it, k) => this.#apply(ctx, it, values[k]!));
    }
  }

  /** Puts one data value into the store: status passes through unchanged. */
  #apply(ctx: HopContext, item: Item, dv: DataValue): void {
    const typed = fromVariant(dv.value);
    if (typed) item.type = typed.type;
    // Neither declared nor read as a carried type (a structure): not a point.
    if (!item.type) return;
    const status = dv.statusCode.value >>> 0;
    ctx.apply({
      id: item.id,
      value: typed && typed.type === item.type ? typed.value : null,
      type: item.type,
      status: typed || status !== Status.Good ? status : Status.BadWaitingForInitialData,
      time: (dv.sourceTimestamp ?? dv.serverTimestamp)?.getTime() ?? ctx.clock.now(),
      hops: [],
      cause: null,
    });
  }

  /**
   * Monitors every item, in groups no larger than the server's
   * MaxMonitoredItemsPerCall, in subscriptions no larger than its
   * MaxMonitoredItemsPerSubscription (or --opcua-max-items). Items a
   * subscription refuses with BadTooManyMonitoredItems (a limit the server
   * did not advertise) move on to the next subscription.
   */
  async #subscribe(
    ctx: HopContext,
    session: ClientSession,
    items: Item[],
    limits: Limits,
    onTerminated: () => void,
    heard: () => void,
  ): Promise<{ subscriptions: number; monitored: number; silence: number }> {
    const c = this.#config;
    const perSub = c.opcuaMaxItems > 0 ? c.opcuaMaxItems : limits.perSubscription;
    let subscriptions = 0;
    let monitored = 0;
    let silence = 0;
    const failed: string[] = [];
    let pending = items;
    for (let round = 0; pending.length > 0 && round < 10_000; round++) {
      const sub = await session.createSubscription2({
        requestedPublishingInterval: c.opcuaPublishing,
        requestedLifetimeCount: 120,
        requestedMaxKeepAliveCount: 10,
        maxNotificationsPerPublish: 10_000,
        publishingEnabled: true,
        priority: 10,
      });
      sub.on("terminated", onTerminated);
      sub.on("keepalive", heard);
      sub.on("received_notifications", heard);
      // A server must answer within its keep-alive period (revised values): twice that, plus slack.
      silence = Math.max(silence, 2 * sub.publishingInterval * sub.maxKeepAliveCount + 2_000);
      subscriptions++;
      const take = pending.slice(0, perSub);
      const refused: Item[] = [];
      for (let i = 0; i < take.length; i += limits.perCall) {
        const chunk = take.slice(i, i + limits.perCall);
        const group = ClientMonitoredItemGroup.create(
          sub,
          chunk.map((it) => ({ nodeId: it.nodeId, attributeId: AttributeIds.Value })),
          { samplingInterval: c.opcuaSampling, discardOldest: true, queueSize: 1 },
          TimestampsToReturn.Both,
        );
        group.on("changed", (_item, dv, index) => {
          const it = chunk[index];
          if (it) this.#apply(ctx, it, dv);
        });
        await new Promise<void>((resolve, reject) => {
          group.once("initialized", () => resolve());
          group.once("err", (e) => reject(new Error(`Monitoring failed: ${e}`)));
        });
        group.monitoredItems.forEach((mi, k) => {
          const code = mi.statusCode.value >>> 0;
          if (code === StatusCodes.BadTooManyMonitoredItems.value) refused.push(chunk[k]!);
          else if (code >>> 30 < 2) monitored++;
          else failed.push(`${chunk[k]!.id} (${mi.statusCode.name})`);
        });
      }
      if (refused.length === take.length) {
        throw new Error(`the server refuses every monitored item (BadTooManyMonitoredItems)`);
      }
      pending = [...refused, ...pending.slice(take.length)];
    }
    if (failed.length > 0) {
      ctx.log.warn("{count} variables cannot be monitored: {failed}", {
        count: failed.length,
        failed: failed.slice(0, 10).join(", ") + (failed.length > 10 ? ", …" : ""),
      });
    }
    return { subscriptions, monitored, silence };
  }
}

/** Standard subtypes of built-in types, by their numeric id in namespace 0. */
const derivedTypes = new Map<number, ScalarType>([
  [290, "Double"], // Duration
  [294, "DateTime"], // UtcTime
  [295, "String"], // LocaleId
  [12877, "String"], // NormalizedString
  [12878, "String"], // DecimalString
  [12879, "String"], // DurationString
  [12880, "String"], // TimeString
  [12881, "String"], // DateString
]);

/**
 * Reads the DataType and ValueRank attributes, so a variable that has no
 * value yet still has a type (and a point). Values read later override it.
 */
async function declareTypes(session: ClientSession, items: Item[], perRead: number) {
  const per = Math.max(1, Math.floor(perRead / 2));
  for (let i = 0; i < items.length; i += per) {
    const chunk = items.slice(i, i + per);
    const dvs = await session.read(chunk.flatMap((it) => [
      { nodeId: it.nodeId, attributeId: AttributeIds.DataType },
      { nodeId: it.nodeId, attributeId: AttributeIds.ValueRank },
    ]));
    chunk.forEach((it, k) => {
      const id = dvs[2 * k]?.value.value as NodeId | null | undefined;
      const rank = Number(dvs[2 * k + 1]?.value.value ?? -1);
      if (it.type !== null || !id || id.namespace !== 0 || typeof id.value !== "number") return;
      const base = id.value <= 15 ? scalarTypeOf(id.value) : derivedTypes.get(id.value) ?? null;
      if (base && (rank === -1 || rank === 1)) it.type = rank === 1 ? `${base}[]` : base;
    });
  }
}

/** Turns node-opcua's connect errors into what an operator needs to do. */
async function explain(e: Error, pki: string, own: string): Promise<string> {
  // The whole text: node-opcua's second line ("The connection may have been rejected by
  // server") is often the only hint of why.
  const text = e.message.replace(/\s*\n\s*/g, " ").trim() || String(e);
  if (
    /rejected by (the )?server|Error message not specified|BadSecurityChecksFailed/i.test(text)
  ) {
    let facts = "";
    try {
      const f = certificateFacts(readCertificate(own));
      facts = ` ("${f.name}", ${f.uri}, thumbprint ${f.thumbprint})`;
    } catch { /* not made yet: the path still says where it will be */ }
    return `the PLC refused the connection (${text}); it probably does not trust this hop's certificate ${own}${facts}: trust it on the PLC (most keep refused certificates in a list to accept from), and the next reconnect succeeds`;
  }
  if (!/BadCertificate\w*(Untrusted|Invalid|Rejected)|certificate verification/i.test(text)) {
    return text;
  }
  // The certificate just refused is the newest file in rejected/.
  const rejected = join(pki, "rejected");
  let newest = { name: "", time: 0 };
  try {
    for await (const entry of Deno.readDir(rejected)) {
      const time = (await Deno.stat(join(rejected, entry.name))).mtime?.getTime() ?? 0;
      if (entry.isFile && time >= newest.time) newest = { name: entry.name, time };
    }
  } catch { /* no rejected/ folder yet */ }
  const file = newest.name ? join(rejected, newest.name) : rejected;
  return `the PLC's certificate is not trusted (${text}); it was saved as ${file}: check its fingerprint (in the file name) and move it to ${
    join(pki, "trusted", "certs")
  } to trust it (read at the next reconnect), or pass --opcua-trust-unknown for first setup only`;
}

/** The server's limits that shape browse, read and subscription requests. */
interface Limits {
  perSubscription: number;
  perCall: number;
  perRead: number;
  perBrowse: number;
}

/** Reads the server's operation limits; 0 (no limit) or unreadable falls back to safe defaults. */
async function readLimits(session: ClientSession): Promise<Limits> {
  const ids = [
    VariableIds.Server_ServerCapabilities_MaxMonitoredItemsPerSubscription,
    VariableIds.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
    VariableIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
    VariableIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse,
  ];
  const dvs = await session.read(
    ids.map((i) => ({ nodeId: `i=${i}`, attributeId: AttributeIds.Value })),
  );
  const limit = (k: number, fallback: number, cap: number) => {
    const dv = dvs[k];
    const v = dv && dv.statusCode.isGood() ? Number(dv.value.value) : 0;
    return v > 0 ? Math.min(v, cap) : fallback;
  };
  return {
    perSubscription: limit(0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    perCall: limit(1, 1000, 1000),
    perRead: limit(2, 1000, 5000),
    perBrowse: limit(3, 500, 1000),
  };
}

/** Resolves or rejects with `p`, or rejects when `lost` resolves first or after `ms`. */
function untilLost<T>(
  what: string,
  p: Promise<T>,
  lost: Promise<string>,
  ms = stepTimeout,
): Promise<T> {
  const orLost = Promise.race([
    p,
    lost.then((why) => {
      throw new Lost(why);
    }),
  ]);
  return withTimeout(orLost, ms, { what });
}
