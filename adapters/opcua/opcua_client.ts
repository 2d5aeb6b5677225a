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
  type ClientSession,
  type ClientSessionRawSubscriptionService,
  ClientSidePublishEngine,
  type ClientSubscription,
  type DataValue,
  type MonitoredItemCreateResult,
  MonitoringMode,
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
  type Point,
  type ScalarType,
  sleep,
  Status,
  type StatusCode,
  type StoredPoint,
  type Value,
  withTimeout,
  worthLogging,
  type WriteRequest,
  YoungCollections,
} from "../../core/mod.ts";
import type { OpcuaEndpoint } from "./options.ts";
import { browseVariables, pathFilter, pathOf } from "./opcua_browse.ts";
import { fitKeepAlive, type SessionTiming, sessionTiming, silenceLimit } from "./opcua_timing.ts";
import { routeLibraryLogs } from "./opcua_log.ts";
import { ensureApplicationCertificate } from "./opcua_certificate.ts";
import { applicationNames } from "./opcua_names.ts";
import { securityOf } from "./opcua_security.ts";
import { certificateFacts } from "./opcua_trust.ts";
import { fromVariant, scalarTypeOf, toVariant } from "./opcua_values.ts";
import { Lost, untilLost } from "./opcua_loss.ts";
import {
  compactChanges,
  type DataChanges,
  decodeDataChangesCompactly,
  numericType,
  releaseChanges,
} from "./opcua_data_changes.ts";

/** The folder of the hop's OPC UA application certificate and trust lists. */
export function pkiFolder(config: HopConfig): string {
  return join(config.dataDir, "opcua-pki");
}

/**
 * One variable being read: where it is on the PLC and which point it feeds.
 * A class with every field set from the start: an object literal given
 * `held` at its first change grew a property store of its own, 80 bytes an
 * item against the class's 56 (2.4 MB at 100,000 items).
 */
class Item {
  /** What the store returned for the point, handed back so it does not look the id up. */
  held: StoredPoint | undefined = undefined;
  constructor(readonly id: string, readonly nodeId: string, public type: DataType | null) {}
}

/** Bounds one request to the PLC: its own timeout, and the loss of the connection. */
type Guard = <T>(what: string, request: Promise<T>) => Promise<T>;

/**
 * Longest any single request (connect, one Browse or Read of a chunk, one
 * CreateMonitoredItems batch) may take before it counts as failed: a bound
 * per request, never for a whole address space, so the time to read a PLC
 * grows with its size instead of hitting a cliff.
 */
const stepTimeout = 60_000;
/** Longest one CreateMonitoredItems batch may take; a batch that takes longer is retried. */
const batchTimeout = 30_000;
/** CreateMonitoredItems batches in flight at once: enough to hide the round trip, few enough to pace the PLC. */
const batchesInFlight = 4;
/** Passes over the batches that failed or timed out before they are left unmonitored. */
const subscribePasses = 3;
/**
 * Notifications the PLC puts in one publish response. node-opcua's own
 * default (10,000) makes every response a large batch that outlives
 * young-generation collections. 2,000 cost the hop no more CPU per change
 * than 1,000 and let the PLC send more per round trip; 500 cost more
 * (measured in tests/bench/opcua_ingest.ts, 100,000 items, SignAndEncrypt,
 * when changes were still decoded into node-opcua's objects).
 */
const notificationsPerPublish = 2_000;
/**
 * The largest message chunk the hop sends its PLC (the SendBufferSize of its
 * Hello). node-opcua builds every request, a few hundred bytes for a Publish,
 * in a buffer of the whole chunk size, which its default (640 KiB, so 512
 * KiB with a node-opcua PLC) made about 500 MB/s of buffers outside the heap
 * at 1,000,000 changes/s (a Publish request every 2,000 changes). 64 KiB, a
 * common PLC receive buffer, so no new chunking for most PLCs: hop CPU 68–70%
 * → 55–59% (tests/bench/opcua_ingest.ts, 100,000 items every 100 ms,
 * SignAndEncrypt, three alternating pairs; 63–64% → 51–56% in two earlier),
 * memory unchanged. Larger requests (reads, CreateMonitoredItems) go in
 * several chunks, which a PLC accepting one chunk per message would refuse.
 */
export const opcuaSendChunkBytes = 65_536;
/**
 * A young-generation collection every 20,000 changes applied, by all sources
 * of the process together (core/young_collection.ts says why). Measured at
 * 1,000,000 changes/s (100,000 items, SignAndEncrypt): every 10,000 or 40,000
 * cost 74–80% of a core against 72–78% for 20,000; none, 95–99%.
 */
const young = new YoungCollections(20_000);
/**
 * Publish requests node-opcua keeps in flight per subscription (its default
 * is 5). A server answers a subscription with more to send only when it
 * holds a request, so ingest is at most requests × notifications per
 * publish per round trip: 5 × 1,000 per round trip capped a busy hop near
 * 50,000 changes/s (20 × 2,000 is 40,000 per round trip). The setting is node-opcua's, for the whole process.
 */
const publishPipeline = 20;
ClientSidePublishEngine.publishRequestCountInPipeline = publishPipeline;
/** Points whose node id the debug log lists one by one at connect. */
const pointsListed = 1_000;
/** The Overflow bit of a status code's InfoBits (InfoType DataValue). */
const overflowBit = 0x80;
const infoTypeDataValue = 0x400;

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
  /** The points read from the PLC, as the last browse found them. */
  #items: Item[] = [];
  /**
   * The same by point id, made when a write or the next browse asks for one,
   * with the list it was made of (a new browse's list makes it again): at
   * 100,000 items a map's table is 3.7 MB of heap that a hop whose points are
   * not writable (the default) never needs.
   */
  #byId: { of: Item[]; map: Map<string, Item> } | null = null;
  /** Whether the current connection attempt's loss was already reported. */
  #reported = false;
  /** The outage under way (one warning when it starts, one when it ends), or null while connected. */
  #outage: { since: number; attempts: number; kinds: Set<string> } | null = null;
  /** Whether the application certificate was checked since the adapter started. */
  #certified = false;
  /** Values that arrived with the Overflow bit (each: at least one change lost in the PLC's queue). */
  #overflows = 0;
  #failedNotifications = 0;
  /** The update every change is applied through (see {@link #applyChange}). */
  #update: Point = {
    id: "",
    value: null,
    type: "Double",
    status: Status.Good,
    time: 0,
    hops: [],
    cause: null,
  };
  #overflowsReported = 0;
  #overflowTimer: number | null = null;

  constructor(endpoint: OpcuaEndpoint, config: HopConfig) {
    this.#endpoint = endpoint;
    this.#config = config;
    this.name = `opcua:${endpoint.name}`;
  }

  start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    routeLibraryLogs();
    decodeDataChangesCompactly();
    ctx.status.running("running");
    ctx.signal.addEventListener("abort", () => this.#stop.abort(), { once: true });
    this.#loop = this.#run(ctx);
    this.#scheduleOverflowReport(ctx);
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    if (this.#overflowTimer !== null) this.#ctx?.clock.clearTimeout(this.#overflowTimer);
    await this.#loop;
    this.#ctx?.status.running("stopped");
    this.#ctx?.status.connection("down");
  }

  status(): AdapterStatus {
    return this.#ctx?.status.get() ?? notStarted(this);
  }

  /** Writes to the PLC variable behind a point; the PLC's status code is the result. */
  async write(request: WriteRequest): Promise<StatusCode> {
    const item = this.#itemsById().get(request.id);
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

  /** {@link #items} by point id, made at the first call after a browse. */
  #itemsById(): Map<string, Item> {
    const items = this.#items;
    if (this.#byId?.of !== items) {
      this.#byId = { of: items, map: new Map(items.map((it) => [it.id, it])) };
    }
    return this.#byId.map;
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
    const timing = sessionTiming(c.opcuaPublishing, c.opcuaSampling, c.opcuaQueue);
    const client = OPCUAClient.create({
      applicationName: names.applicationName,
      applicationUri: names.applicationUri,
      clientCertificateManager: certificates,
      certificateFile: ownCertificate,
      securityMode: mode,
      securityPolicy: policy,
      endpointMustExist: false,
      keepSessionAlive: true,
      requestedSessionTimeout: timing.sessionTimeout,
      transportSettings: { sendBufferSize: opcuaSendChunkBytes },
      // One try: the reconnect loop is ours.
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    });
    let lose: (why: string) => void = () => {};
    // Events after the teardown starts (our own disconnect closes the connection) are no loss.
    let tearingDown = false;
    // The loss as a signal for the requests under way (each listens only while it waits, see
    // untilLost) and as a promise for the end of the session.
    const loss = new AbortController();
    const lost = new Promise<string>((resolve) =>
      lose = (why) => {
        if (tearingDown || loss.signal.aborted) return;
        loss.abort(why);
        resolve(why);
      }
    );
    void lost.then((why) => this.#down(ctx, why));
    const onAbort = () => lose("stopped");
    this.#stop.signal.addEventListener("abort", onAbort, { once: true });
    client.on("connection_lost", () => lose("connection lost"));
    client.on("close", () => lose("connection closed"));
    const step = <T>(what: string, p: Promise<T>) => untilLost(what, p, loss.signal, stepTimeout);
    let lastHeard = Date.now();
    let watchdog: ReturnType<typeof setInterval> | undefined;
    const t0 = Date.now();
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
      const keepAliveCount = fitKeepAlive(timing, c.opcuaPublishing, session.timeout);
      if (keepAliveCount * c.opcuaPublishing > session.timeout) {
        throw new Error(
          `the PLC grants a session timeout of ${session.timeout} ms, shorter than 3 publishing intervals of ${c.opcuaPublishing} ms; lower --opcua-publishing`,
        );
      }
      const limits = await step("read limits", readLimits(session));
      // Bulk steps are bounded per request, so their time grows with the address space.
      const found = await this.#find(session, limits.perBrowse, step);
      await declareTypes(session, found, limits.perRead, step);
      await this.#readAll(ctx, session, found, limits.perRead, step);
      // Variables of types hopgate does not carry (structures) are not points: not monitored.
      const items = found.filter((it) => it.type !== null);
      const t1 = Date.now();
      const monitoring = await this.#subscribe(ctx, session, items, {
        limits,
        timing: { ...timing, keepAliveCount },
        lost: loss.signal,
        onTerminated: () => lose("subscription terminated"),
        heard: () => (lastHeard = Date.now()),
      });
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
        "Connected to {source} at {url} ({security}): {count} variables, {monitored} monitored in {subs} subscriptions; read in {readMs} ms, subscribed in {subMs} ms; sampling {sampling} ms, publishing {publishing} ms, queue {queue}, keep-alive every {keepAlive} ms",
        {
          source: this.name,
          url: this.#endpoint.url.href,
          security: c.opcuaSecurity,
          count: items.length,
          monitored: monitoring.monitored,
          subs: monitoring.subscriptions,
          readMs: t1 - t0,
          subMs: Date.now() - t1,
          sampling: monitoring.sampling,
          publishing: monitoring.publishing,
          queue: timing.queueSize,
          keepAlive: monitoring.keepAlive,
        },
      );
      // Reading and subscribing 100,000 items left about 55 MB of garbage and a full-size young
      // generation; without this they stayed committed under the flow of changes that follows
      // (peak RSS at 1 M changes/s: 267–268 MB, against 223–224 with it).
      ctx.releaseMemory?.(`Subscribed to ${this.name}`);
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
  async #find(session: ClientSession, perBrowse: number, guard: Guard): Promise<Item[]> {
    const c = this.#config;
    const ctx = this.#ctx!;
    const found: { nodeId: string; path: string }[] = [];
    for (const nodeId of c.opcuaNodes) {
      found.push({ nodeId, path: await pathOf(session, nodeId, guard) });
    }
    let truncated = false;
    if (c.opcuaBrowse !== undefined || c.opcuaNodes.length === 0) {
      const keep = pathFilter(c.opcuaInclude, c.opcuaExclude);
      const browsed = await browseVariables(session, c.opcuaBrowse ?? "i=85", {
        perCall: perBrowse,
        maxVariables: c.opcuaMaxVariables,
        guard,
      });
      truncated = browsed.truncated;
      // One by one: a spread into push(...) overflows the stack beyond ~125,000 variables.
      for (const v of browsed.variables) if (keep(v.path)) found.push(v);
    }
    if (found.length > c.opcuaMaxVariables) {
      truncated = true;
      found.length = c.opcuaMaxVariables;
    }
    if (truncated) {
      ctx.log.warn(
        "{source} has more than {limit} variables; only the first {limit} found are read. Raise --opcua-max-variables (about 3 KB of hop memory each) or narrow --opcua-browse and --opcua-include",
        { source: this.name, limit: c.opcuaMaxVariables },
      );
    }
    const items = new Map<string, Item>();
    const twins: string[] = [];
    // The types learnt in an earlier session, if any.
    const before = this.#items.length > 0 ? this.#itemsById() : undefined;
    for (const f of found) {
      const id = `${ctx.hop}/${this.#endpoint.name}/${f.path}`;
      const first = items.get(id);
      if (first === undefined) {
        items.set(id, new Item(id, f.nodeId, before?.get(id)?.type ?? null));
      } else if (first.nodeId !== f.nodeId) twins.push(`${f.nodeId} (${f.path})`);
    }
    if (twins.length > 0) {
      ctx.log.warn(
        "{count} variables share a browse path with another and are not read: {twins}; name them with --opcua-nodes or narrow --opcua-browse",
        { count: twins.length, twins: twins.slice(0, 10).join(", ") },
      );
    }
    // One debug line per point up to a bound: at 100,000 points the log calls alone were 4.6% of
    // the hop's busy CPU samples in a 15 s ingest profile, even with debug off.
    let listed = 0;
    for (const it of items.values()) {
      if (listed++ === pointsListed) break;
      ctx.log.debug("Point {id} reads {nodeId}", { id: it.id, nodeId: it.nodeId });
    }
    if (items.size > pointsListed) {
      ctx.log.debug("{more} more points read from {source} (not listed one by one)", {
        more: items.size - pointsListed,
        source: this.name,
      });
    }
    const keepIds = new Set(items.keys());
    keepIds.add(this.#overflowsId(ctx));
    const gone = ctx.removeAllBut(keepIds);
    if (gone > 0) ctx.log.info("{gone} points of {source} are gone", { gone, source: this.name });
    this.#items = [...items.values()];
    this.#byId = null; // the earlier list's map, no longer needed
    return this.#items;
  }

  /**
   * Reads every value once, so each point has its value and type before the
   * subscriptions start; a point whose type is declared appears first as
   * BadWaitingForInitialData.
   */
  async #readAll(
    ctx: HopContext,
    session: ClientSession,
    items: Item[],
    perRead: number,
    guard: Guard,
  ) {
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
      const values = await guard(
        "read values",
        session.read(chunk.map((it) => ({ nodeId: it.nodeId, attributeId: AttributeIds.Value }))),
      );
      chunk.forEach((it, k) => this.#apply(ctx, it, values[k]!));
    }
  }

  /**
   * Puts one data value node-opcua decoded (a Read's answer, or a data
   * change when the compact decoder is not installed) into the store.
   */
  #apply(ctx: HopContext, item: Item, dv: DataValue): void {
    const typed = fromVariant(dv.value);
    this.#applyChange(
      ctx,
      item,
      typed?.type ?? null,
      typed?.value ?? null,
      dv.statusCode.value,
      (dv.sourceTimestamp ?? dv.serverTimestamp)?.getTime() ?? NaN,
    );
  }

  /** The changes of one DataChangeNotification, read compactly (opcua_data_changes.ts). */
  #applyChanges(ctx: HopContext, handles: (Item | undefined)[], c: DataChanges): void {
    for (let i = 0; i < c.count; i++) {
      const it = handles[c.handles[i]!];
      if (it === undefined) continue;
      const type = numericType(c.typeIds[i]!);
      if (type !== null) {
        const n = c.numbers[i]!;
        this.#applyChange(
          ctx,
          it,
          type,
          type === "Boolean" ? n === 1 : n,
          c.statuses[i]!,
          c.times[i]!,
        );
      } else {
        const typed = c.variants?.[i] ? fromVariant(c.variants[i]!) : null;
        this.#applyChange(
          ctx,
          it,
          typed?.type ?? null,
          typed?.value ?? null,
          c.statuses[i]!,
          c.times[i]!,
        );
      }
    }
    young.count(c.count);
  }

  /**
   * One value read as `type` (`null`: none the hop carries) into the store.
   * Its status passes through unchanged, except the Overflow bit, which is
   * counted (see {@link #reportOverflows}) rather than passed on, so a point
   * stays plain Good. `time` is the PLC's timestamp, NaN for none: a change
   * without one is stamped on arrival (subscriptions ask for source
   * timestamps only).
   */
  #applyChange(
    ctx: HopContext,
    item: Item,
    type: DataType | null,
    value: Value,
    code: number,
    time: number,
  ): void {
    if (type !== null) item.type = type;
    // Neither declared nor read as a carried type (a structure): not a point.
    if (!item.type) return;
    let status = code >>> 0;
    if ((status & 0xc00) === infoTypeDataValue && (status & overflowBit) !== 0) {
      this.#overflows++;
      status = (status & ~overflowBit) >>> 0;
      // No other info bit left: the InfoType goes too, so Good stays exactly Good.
      if ((status & 0x3ff) === 0) status = (status & ~0xc00) >>> 0;
    }
    // One update object, refilled: the store copies what it keeps.
    const u = this.#update;
    u.id = item.id;
    u.value = type !== null && type === item.type ? value : null;
    u.type = item.type;
    u.status = type !== null || status !== Status.Good ? status : Status.BadWaitingForInitialData;
    u.time = Number.isNaN(time) ? ctx.clock.now() : time;
    item.held = ctx.apply(u, item.held) ?? undefined;
  }

  /**
   * A notification the source could not apply (a bug, not the PLC's doing:
   * malformed responses fail in decoding): logged at the 1st, 10th, 100th…
   * time, as node-opcua would swallow it.
   */
  #notificationFailed(ctx: HopContext, e: Error): void {
    const n = ++this.#failedNotifications;
    if (worthLogging(n)) {
      ctx.log.error(
        "{source}: a notification from the PLC could not be applied ({n} so far): {error}",
        {
          source: this.#endpoint.name,
          n,
          error: e.stack ?? e.message,
        },
      );
    }
  }

  /** `<hop>/$opcua/<source>/overflows`: values that arrived with the Overflow bit, since start. */
  #overflowsId(ctx: HopContext): string {
    return `${ctx.hop}/$opcua/${this.#endpoint.name}/overflows`;
  }

  /**
   * Once per status interval (10 s when status lines are off): the overflow
   * count as a point, on the status line, and one warning when it grew.
   */
  #scheduleOverflowReport(ctx: HopContext): void {
    const every = this.#config.statusInterval > 0 ? this.#config.statusInterval : 10_000;
    this.#overflowTimer = ctx.clock.setTimeout(() => {
      this.#reportOverflows(ctx, every);
      if (!this.#stop.signal.aborted) this.#scheduleOverflowReport(ctx);
    }, every);
  }

  #reportOverflows(ctx: HopContext, every: number): void {
    const total = this.#overflows;
    const grown = total - this.#overflowsReported;
    this.#overflowsReported = total;
    if (total > 0) ctx.status.detail(`${total} queue overflows`);
    if (grown <= 0) return;
    this.#applyOverflows(ctx);
    ctx.log.warn(
      "{source}: {grown} values arrived with the Overflow bit in the last {seconds} s ({total} since start): the PLC dropped older changes of those variables from their queues of {queue}; raise --opcua-queue, sample less often (--opcua-sampling) or publish more often (--opcua-publishing)",
      {
        source: this.name,
        grown,
        seconds: Math.round(every / 100) / 10,
        total,
        queue: sessionTiming(
          this.#config.opcuaPublishing,
          this.#config.opcuaSampling,
          this.#config.opcuaQueue,
        ).queueSize,
      },
    );
  }

  #applyOverflows(ctx: HopContext): void {
    ctx.apply({
      id: this.#overflowsId(ctx),
      value: BigInt(this.#overflows),
      type: "UInt64",
      status: Status.Good,
      time: ctx.clock.now(),
      hops: [],
      cause: null,
    });
  }

  /**
   * Monitors every item, in batches no larger than the server's
   * MaxMonitoredItemsPerCall, in subscriptions no larger than its
   * MaxMonitoredItemsPerSubscription (or --opcua-max-items). Batches are
   * created a few at a time ({@link batchesInFlight}) while data already
   * flows on the items monitored before; each batch has its own timeout, and a batch that
   * fails or times out is retried after the others (up to
   * {@link subscribePasses} passes) without touching the working ones.
   * Items a subscription refuses with BadTooManyMonitoredItems (a limit the
   * server did not advertise) move on to the next subscription.
   */
  async #subscribe(
    ctx: HopContext,
    session: ClientSession,
    items: Item[],
    o: {
      limits: Limits;
      timing: SessionTiming;
      lost: AbortSignal;
      onTerminated: () => void;
      heard: () => void;
    },
  ): Promise<{
    subscriptions: number;
    monitored: number;
    silence: number;
    keepAlive: number;
    sampling: number;
    publishing: number;
  }> {
    const c = this.#config;
    const perSub = c.opcuaMaxItems > 0 ? c.opcuaMaxItems : o.limits.perSubscription;
    /** A subscription: items monitored, reserved (monitored or in flight), batches in flight. */
    type Target = {
      sub: ClientSubscription;
      count: number;
      reserved: number;
      inFlight: number;
      full: boolean;
    };
    const subs: Target[] = [];
    /**
     * The item behind each client handle (its index), in all subscriptions of
     * this session; `undefined` for a handle whose creation failed. Notifications
     * go straight from here to the store: no node-opcua monitored-item object or
     * event per item (they cost about 3 KB and two events per change each).
     */
    const handles: (Item | undefined)[] = [undefined];
    let monitored = 0;
    let silence = 0;
    let keepAlive = 0;
    let sampling = c.opcuaSampling;
    const failed: string[] = [];
    const newSubscription = async () => {
      const sub = await untilLost(
        "create subscription",
        session.createSubscription2({
          requestedPublishingInterval: c.opcuaPublishing,
          requestedLifetimeCount: o.timing.lifetimeCount,
          requestedMaxKeepAliveCount: o.timing.keepAliveCount,
          maxNotificationsPerPublish: notificationsPerPublish,
          publishingEnabled: true,
          priority: 10,
        }),
        o.lost,
        stepTimeout,
      );
      deliverTo(sub, {
        changes: (c) => this.#applyChanges(ctx, handles, c),
        objects: (n) => {
          for (const m of n.monitoredItems ?? []) {
            const it = handles[m.clientHandle];
            if (it) this.#apply(ctx, it, m.value);
          }
        },
        failed: (e) => this.#notificationFailed(ctx, e),
      });
      sub.on("terminated", o.onTerminated);
      sub.on("keepalive", o.heard);
      sub.on("received_notifications", o.heard);
      // A server must answer within its keep-alive period (revised values): twice that, plus slack.
      keepAlive = Math.max(keepAlive, sub.publishingInterval * sub.maxKeepAliveCount);
      silence = Math.max(silence, silenceLimit(sub.publishingInterval, sub.maxKeepAliveCount));
      const entry: Target = { sub, count: 0, reserved: 0, inFlight: 0, full: false };
      subs.push(entry);
      return entry;
    };
    /** Creates one batch; resolves with the items to try again (refused or failed). */
    const monitorBatch = async (
      target: Target,
      chunk: Item[],
    ): Promise<{ refused: Item[]; retry: string | null }> => {
      const first = handles.length;
      for (const it of chunk) handles.push(it);
      const forget = (k: number) => (handles[first + k] = undefined);
      let results: MonitoredItemCreateResult[];
      try {
        const response = await untilLost(
          "monitor a batch",
          (session as ClientSession & ClientSessionRawSubscriptionService).createMonitoredItems({
            subscriptionId: target.sub.subscriptionId,
            // The server timestamp would only be a fallback (see #apply): not asking for it
            // saves decoding a DateTime (two `long` temporaries and a Date) per change.
            timestampsToReturn: TimestampsToReturn.Source,
            itemsToCreate: chunk.map((it, k) => ({
              itemToMonitor: { nodeId: it.nodeId, attributeId: AttributeIds.Value },
              monitoringMode: MonitoringMode.Reporting,
              requestedParameters: {
                clientHandle: first + k,
                samplingInterval: c.opcuaSampling,
                discardOldest: true,
                queueSize: o.timing.queueSize,
              },
            })),
          }),
          o.lost,
          batchTimeout,
        );
        results = response.results ?? [];
      } catch (e) {
        if (e instanceof Lost) throw e;
        // Whatever the server still makes of this batch is ignored; it is tried again from scratch.
        chunk.forEach((_, k) => forget(k));
        return { refused: [], retry: (e as Error).message };
      }
      const refused: Item[] = [];
      chunk.forEach((it, k) => {
        const result = results[k];
        const code = (result?.statusCode.value ?? StatusCodes.BadUnexpectedError.value) >>> 0;
        if (code >>> 30 < 2) {
          monitored++;
          target.count++;
          sampling = result?.revisedSamplingInterval ?? sampling;
          return;
        }
        forget(k);
        if (code === StatusCodes.BadTooManyMonitoredItems.value) refused.push(it);
        else failed.push(`${it.id} (${result?.statusCode.name ?? "no result"})`);
      });
      return { refused, retry: null };
    };
    let pending = items;
    const problems: string[] = [];
    let creating: Promise<Target> | null = null;
    /** A subscription with room for up to `n` more items, reserved; made when none has room. */
    const reserve = async (n: number): Promise<{ target: Target; room: number }> => {
      for (let round = 0; round < 1_000_000; round++) {
        const target = subs.find((s) => !s.full && s.reserved < perSub);
        if (target) {
          const room = Math.min(n, perSub - target.reserved);
          target.reserved += room;
          return { target, room };
        }
        creating ??= newSubscription().finally(() => (creating = null));
        await creating;
      }
      throw new Error("no subscription has room for more monitored items");
    };
    for (let pass = 0; pending.length > 0 && pass < subscribePasses; pass++) {
      const retry: Item[] = [];
      problems.length = 0;
      const queue: Item[][] = [];
      for (let i = 0; i < pending.length; i += o.limits.perCall) {
        queue.push(pending.slice(i, i + o.limits.perCall));
      }
      let next = 0;
      // A few batches in flight hide the round trip; each waits for its own answer only.
      const worker = async () => {
        while (next < queue.length) {
          let chunk = queue[next++]!;
          const { target, room } = await reserve(chunk.length);
          if (room < chunk.length) {
            queue.push(chunk.slice(room));
            chunk = chunk.slice(0, room);
          }
          target.inFlight++;
          const { refused, retry: why } = await monitorBatch(target, chunk).finally(() =>
            target.inFlight--
          );
          if (why !== null) {
            target.reserved -= chunk.length;
            problems.push(why);
            for (const it of chunk) retry.push(it);
            continue;
          }
          if (refused.length > 0) {
            target.full = true;
            target.reserved -= refused.length;
            if (refused.length === chunk.length && target.count === 0 && target.inFlight === 0) {
              throw new Error("the server refuses every monitored item (BadTooManyMonitoredItems)");
            }
            // Refused items go into the next subscription.
            queue.push(refused);
          }
        }
      };
      await Promise.all(Array.from({ length: batchesInFlight }, worker));
      pending = retry;
      if (pending.length > 0 && pass + 1 < subscribePasses) {
        ctx.log.warn(
          "{count} variables of {source} are not monitored yet ({problem}); trying again after the others",
          { count: pending.length, source: this.name, problem: problems[0] },
        );
        await sleep(1_000 * (pass + 1), { clock: ctx.clock, signal: this.#stop.signal })
          .catch(() => {});
      }
    }
    for (const it of pending) failed.push(`${it.id} (${problems[0] ?? "not monitored"})`);
    if (failed.length > 0) {
      ctx.log.warn("{count} variables cannot be monitored: {failed}", {
        count: failed.length,
        failed: failed.slice(0, 10).join(", ") + (failed.length > 10 ? ", …" : ""),
      });
    }
    if (monitored === 0 && pending.length > 0) {
      throw new Error(`no variable could be monitored: ${problems[0] ?? "unknown"}`);
    }
    this.#applyOverflows(ctx);
    return {
      subscriptions: subs.length,
      monitored,
      silence,
      keepAlive,
      sampling,
      publishing: subs[0]?.sub.publishingInterval ?? c.opcuaPublishing,
    };
  }
}

/** The part of a DataChangeNotification node-opcua decoded that the source reads. */
export interface ChangeObjects {
  monitoredItems?: { clientHandle: number; value: DataValue }[] | null;
}

/** What a subscription's notifications are routed to (see {@link deliverTo}). */
export interface Delivery {
  /** A DataChangeNotification read compactly (opcua_data_changes.ts). */
  changes(c: DataChanges): void;
  /** One node-opcua decoded into objects (the compact decoder not installed). */
  objects(n: ChangeObjects): void;
  /** A notification whose handling threw; node-opcua would swallow it. */
  failed(e: Error): void;
}

/** node-opcua's ClientSubscription methods that {@link deliverTo} replaces or calls. */
const subscriptionMethods = [
  "onNotificationMessage",
  "__on_publish_response_StatusChangeNotification",
  "__on_publish_response_EventNotificationList",
] as const;

/**
 * Routes a subscription's notification messages to `to` instead of
 * node-opcua's own dispatch (the subscription's method, replaced on this
 * instance; the items are created with raw CreateMonitoredItems requests, so
 * node-opcua knows none of them). Data changes are applied as soon as their
 * response is decoded: node-opcua first awaits a search for structures to
 * promote (the source carries none), which would also read every change's
 * node-opcua objects (opcua_data_changes.ts decodes them only when read).
 * Keep-alive, status changes and events go where node-opcua sends them.
 * Fails loudly if node-opcua renamed a method.
 */
export function deliverTo(sub: ClientSubscription, to: Delivery): void {
  const impl = sub as unknown as Record<string, unknown> & {
    lastSequenceNumber: number;
    emit(event: string, ...args: unknown[]): boolean;
  };
  for (const method of subscriptionMethods) {
    if (typeof impl[method] !== "function") {
      throw new Error(
        `node-opcua's ClientSubscription has no ${method}; the source needs updating`,
      );
    }
  }
  const other = (method: typeof subscriptionMethods[number], n: unknown) =>
    (impl[method] as (n: unknown) => void).call(sub, n);
  impl.onNotificationMessage = (message: {
    sequenceNumber: number;
    notificationData?: unknown[] | null;
  }) => {
    impl.lastSequenceNumber = message.sequenceNumber;
    impl.emit("raw_notification", message);
    const data = message.notificationData ?? [];
    if (data.length === 0) {
      impl.emit("keepalive");
      return;
    }
    impl.emit("received_notifications", message);
    for (const n of data) {
      try {
        switch ((n as { schema?: { name?: string } } | null)?.schema?.name) {
          case "DataChangeNotification": {
            const c = compactChanges(n);
            if (c) {
              try {
                to.changes(c);
              } finally {
                releaseChanges(c);
              }
            } else to.objects(n as ChangeObjects);
            break;
          }
          case "StatusChangeNotification":
            other("__on_publish_response_StatusChangeNotification", n);
            break;
          case "EventNotificationList":
            other("__on_publish_response_EventNotificationList", n);
            break;
        }
      } catch (e) {
        to.failed(e as Error);
      }
    }
  };
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
async function declareTypes(
  session: ClientSession,
  items: Item[],
  perRead: number,
  guard: Guard,
) {
  const per = Math.max(1, Math.floor(perRead / 2));
  for (let i = 0; i < items.length; i += per) {
    const chunk = items.slice(i, i + per);
    const dvs = await guard(
      "read data types",
      session.read(chunk.flatMap((it) => [
        { nodeId: it.nodeId, attributeId: AttributeIds.DataType },
        { nodeId: it.nodeId, attributeId: AttributeIds.ValueRank },
      ])),
    );
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
