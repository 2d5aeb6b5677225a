/**
 * A PLC for the ingest benchmark that is cheap per change, so that the hop,
 * not the PLC, is what is measured: a node-opcua server whose `--count`
 * Double variables (`Plant/Line<k>/D<i>`) are browsed, read, subscribed and
 * monitored as usual (node-opcua's endpoints, secure channel, sessions and
 * services), but whose Publish requests this file answers itself.
 *
 * Why: node-opcua's own publish path builds about six objects per
 * notification and encodes them one field at a time; at 100,000 items every
 * 100 ms it queued 750,000 changes/s but delivered 54,000–200,000/s, the
 * hop idle half the time. Here each subscription has one pre-encoded array
 * of MonitoredItemNotifications (client handle, DataValue mask, Variant
 * Double, the requested timestamps) whose values and timestamps are patched
 * in place when a Publish response takes them; the response's
 * notificationData is a DataChangeNotification whose `encode` copies those
 * bytes. Signing and encrypting the response stay node-opcua's.
 *
 * Every `--churn` ms the whole process image changes (tick t): item D<i> is
 * then `t * 1e6 + i` (distinct per item and per tick, so a mix-up of client
 * handles shows as wrong values), and every monitored item is due once more
 * (a new item is due once when created: its initial value).
 * Due items go out in Publish responses of at most the subscription's
 * maxNotificationsPerPublish, oldest due first, `moreNotifications` set while
 * some remain; with nothing due for maxKeepAliveCount publishing intervals a
 * keep-alive goes out. node-opcua's own subscription timers are stopped (no
 * sampling: MinimumSamplingInterval is an hour; no publishing, no lifetime
 * expiry). No retransmission queue (Republish is not answered).
 *
 * Options: --port, --count, --churn <ms> (0: values never change), --pki <dir>,
 * --seconds (exits by itself after this long), --stamps <ms> (the timestamps
 * it sends are its clock plus this offset; `none`: it sends none, whatever
 * the client asked for). Prints `PLC ready <endpoint>`,
 * then `PLC sent <n> changes/s` every second while it sends. SIGUSR1 freezes
 * the values: it prints `PLC frozen at tick <t>` and sends what is still due.
 */
import {
  DataChangeNotification,
  DataType,
  MessageSecurityMode,
  nodesets,
  OPCUACertificateManager,
  OPCUAServer,
  PublishResponse,
  SecurityPolicy,
  type StatusCode,
  StatusCodes,
  Variant,
} from "node-opcua";
import type { OutputBinaryStream } from "node-opcua-binary-stream";
import { scriptFlags, wholeNumber } from "./_args.ts";

const args = scriptFlags({
  port: { type: "string", default: "4840" },
  count: { type: "string", default: "10000" },
  churn: { type: "string", default: "100" },
  pki: { type: "string" },
  seconds: { type: "string", default: "600" },
  stamps: { type: "string", default: "0" },
});
const pki = args.pki ?? await Deno.makeTempDir({ prefix: "fast-plc-pki-" });
const port = wholeNumber("--port", args.port, 1);
const count = wholeNumber("--count", args.count, 1);
const churn = wholeNumber("--churn", args.churn, 0);
const seconds = wholeNumber("--seconds", args.seconds, 1);
const noStamps = args.stamps === "none";
const stampOffset = noStamps ? 0 : Number(args.stamps);
if (args.stamps.trim() === "" || !Number.isInteger(stampOffset)) {
  console.error(`--stamps takes a whole number of ms or none, not ${args.stamps}`);
  Deno.exit(2);
}

const managers = ["pki", "userpki"].map((name) =>
  new OPCUACertificateManager({
    rootFolder: `${pki}/${name}`,
    automaticallyAcceptUnknownCertificate: true,
    disableFileWatchers: true,
  })
);
for (const m of managers) await m.initialize();

const server = new OPCUAServer({
  port,
  host: "127.0.0.1",
  hostname: "127.0.0.1",
  resourcePath: "/plc",
  serverCertificateManager: managers[0]!,
  userCertificateManager: managers[1]!,
  securityModes: [MessageSecurityMode.None, MessageSecurityMode.SignAndEncrypt],
  securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
  allowAnonymous: true,
  nodesets: [nodesets.standard],
  serverCapabilities: {
    maxMonitoredItemsPerSubscription: 100_000,
    maxSubscriptionsPerSession: 100,
    operationLimits: {
      maxMonitoredItemsPerCall: 1000,
      maxNodesPerRead: 1000,
      maxNodesPerBrowse: 1000,
    },
  },
});
await server.initialize();
const addressSpace = server.engine.addressSpace!;
const ns = addressSpace.getOwnNamespace();
const plant = ns.addFolder(addressSpace.rootFolder.objects, { browseName: "Plant" });
const perLine = 1000;
let line = plant;
for (let i = 0; i < count; i++) {
  if (i % perLine === 0) line = ns.addFolder(plant, { browseName: `Line${i / perLine}` });
  ns.addVariable({
    componentOf: line,
    browseName: `D${i}`,
    nodeId: `s=Plant/Line${Math.floor(i / perLine)}/D${i}`,
    dataType: "Double",
    accessLevel: "CurrentRead",
    userAccessLevel: "CurrentRead",
    minimumSamplingInterval: 3_600_000,
    value: new Variant({ dataType: DataType.Double, value: i }),
  });
}

/** The parts of node-opcua's server objects this PLC reads (internals, checked at first use). */
interface NodeItem {
  clientHandle: number;
  monitoringMode: number;
  timestampsToReturn: number;
  itemToMonitor: { nodeId: { value: unknown } };
}
interface NodeSubscription {
  id: number;
  publishingInterval: number;
  maxKeepAliveCount: number;
  maxNotificationsPerPublish: number;
  monitoredItems: Map<number, NodeItem>;
  _stop_timer(): void;
}
interface NodeSession {
  status: string;
  publishEngine?: { subscriptions: NodeSubscription[] };
}

const reporting = 2; // MonitoringMode.Reporting
/** DateTime: 100 ns ticks since 1601-01-01. */
const epochOffsetMs = 11_644_473_600_000;

/** One subscription's pre-encoded notifications and what is due of them. */
class FastSubscription {
  readonly sub: NodeSubscription;
  /** Monitored items taken in (node-opcua's map, in creation order). */
  items = 0;
  slot = 14;
  mask = 0x01;
  bytes = new ArrayBuffer(0);
  view = new DataView(this.bytes);
  /** Item index (D<i>) of each slot. */
  index = new Float64Array(0);
  /** Ring of due slots: `due` of them from `next`. */
  next = 0;
  due = 0;
  sequence = 1;
  /** Publishing intervals since the last response (for keep-alives). */
  idle = 0;

  constructor(sub: NodeSubscription) {
    this.sub = sub;
  }

  /**
   * Takes in the items node-opcua created since the last call, due once (their
   * initial value), after the items already due; what was due stays due. Slots
   * are copied in at most four runs, so a batch of new items costs no per-item
   * work for the items before it.
   */
  refresh(): void {
    const map = this.sub.monitoredItems;
    if (map.size === this.items) return;
    if (map.size < this.items) {
      // Items deleted: start again, everything due.
      [this.items, this.bytes, this.index, this.next, this.due] = [
        0,
        new ArrayBuffer(0),
        new Float64Array(0),
        0,
        0,
      ];
    }
    const fresh: NodeItem[] = [];
    let seen = 0;
    for (const m of map.values()) {
      if (seen++ >= this.items && m.monitoringMode === reporting) fresh.push(m);
    }
    if (this.index.length === 0 && fresh[0]) {
      const ts = fresh[0].timestampsToReturn; // Source 0, Server 1, Both 2, Neither 3
      this.mask = noStamps
        ? 0x01
        : 0x01 | (ts === 0 || ts === 2 ? 0x04 : 0) | (ts === 1 || ts === 2 ? 0x08 : 0);
      this.slot = 14 + (this.mask & 0x04 ? 8 : 0) + (this.mask & 0x08 ? 8 : 0);
    }
    const [n, slot] = [this.index.length, this.slot];
    const bytes = new ArrayBuffer((n + fresh.length) * slot);
    const [to, from] = [new Uint8Array(bytes), new Uint8Array(this.bytes)];
    const index = new Float64Array(n + fresh.length);
    let w = 0;
    /** Copies `count` slots of the old ring from `at` (wrapping once at most). */
    const put = (at: number, count: number) => {
      for (let left = count, a = at % Math.max(n, 1); left > 0;) {
        const run = Math.min(left, n - a);
        to.set(from.subarray(a * slot, (a + run) * slot), w * slot);
        index.set(this.index.subarray(a, a + run), w);
        [w, left, a] = [w + run, left - run, 0];
      }
    };
    put(this.next, this.due);
    const view = new DataView(bytes);
    for (const m of fresh) {
      view.setUint32(w * slot, m.clientHandle, true);
      view.setUint8(w * slot + 4, this.mask);
      view.setUint8(w * slot + 5, 11); // Variant: Double
      index[w++] = Number(/D(\d+)$/.exec(String(m.itemToMonitor.nodeId.value))?.[1] ?? -1);
    }
    put(this.next + this.due, n - this.due);
    [this.bytes, this.view, this.index] = [bytes, view, index];
    [this.items, this.next, this.due] = [map.size, 0, this.due + fresh.length];
  }

  /** Patches `n` slots from `from` with the current values and `now` as timestamps. */
  patch(from: number, n: number, now: number): void {
    const ticks = BigInt(now + stampOffset + epochOffsetMs) * 10_000n;
    const lo = Number(ticks & 0xffffffffn), hi = Number(ticks >> 32n);
    const v = this.view, slot = this.slot, base = tick * 1e6;
    const stamps = (this.mask & 0x04 ? 1 : 0) + (this.mask & 0x08 ? 1 : 0);
    for (let k = from; k < from + n; k++) {
      const at = k * slot;
      v.setFloat64(at + 6, base + this.index[k]!, true);
      for (let s = 0; s < stamps; s++) {
        v.setUint32(at + 14 + 8 * s, lo, true);
        v.setUint32(at + 18 + 8 * s, hi, true);
      }
    }
  }
}

/** A DataChangeNotification whose body is slots of a FastSubscription, already encoded. */
class PreEncoded extends DataChangeNotification {
  #parts: [ArrayBuffer, number, number][];
  #count: number;
  constructor(parts: [ArrayBuffer, number, number][], count: number) {
    super();
    this.#parts = parts;
    this.#count = count;
  }
  override encode(stream: OutputBinaryStream): void {
    stream.writeInteger(this.#count); // monitoredItems
    for (const [b, at, len] of this.#parts) stream.writeArrayBuffer(b, at, len);
    stream.writeInteger(-1); // diagnosticInfos: null
  }
}

type Send = (response: PublishResponse) => void;
interface Waiting {
  send: Send;
  results: StatusCode[];
}
const fast = new WeakMap<NodeSubscription, FastSubscription>();
const waiting = new Map<NodeSession, Waiting[]>();

/** This PLC's view of a session's subscriptions; node-opcua's timers stopped on first sight. */
function subscriptionsOf(session: NodeSession): FastSubscription[] {
  const out: FastSubscription[] = [];
  for (const sub of session.publishEngine?.subscriptions ?? []) {
    let f = fast.get(sub);
    if (!f) {
      sub._stop_timer();
      f = new FastSubscription(sub);
      fast.set(sub, f);
    }
    f.refresh();
    out.push(f);
  }
  return out;
}

let tick = 0;
let frozen = false;
let sent = 0;

/** Answers the session's waiting Publish requests with what is due, round-robin over subscriptions. */
function flush(session: NodeSession, keepAlives: boolean): void {
  const queue = waiting.get(session);
  if (!queue || queue.length === 0) return;
  const subs = subscriptionsOf(session);
  let turn = 0;
  while (queue.length > 0) {
    let f: FastSubscription | undefined;
    for (let k = 0; k < subs.length && !f; k++) {
      const c = subs[(turn + k) % subs.length]!;
      if (c.due > 0) [f, turn] = [c, turn + k + 1];
    }
    if (!f) break;
    const w = queue.shift()!;
    const limit = f.sub.maxNotificationsPerPublish > 0 ? f.sub.maxNotificationsPerPublish : f.due;
    const n = Math.min(f.due, limit);
    const now = Date.now();
    const parts: [ArrayBuffer, number, number][] = [];
    for (let left = n, at = f.next; left > 0;) {
      const run = Math.min(left, f.index.length - at);
      f.patch(at, run, now);
      parts.push([f.bytes, at * f.slot, run * f.slot]);
      left -= run;
      at = (at + run) % f.index.length;
    }
    f.next = (f.next + n) % f.index.length;
    f.due -= n;
    f.idle = 0;
    sent += n;
    const response = new PublishResponse({
      subscriptionId: f.sub.id,
      availableSequenceNumbers: [f.sequence],
      moreNotifications: f.due > 0,
      notificationMessage: { sequenceNumber: f.sequence++, publishTime: new Date(now) },
      results: w.results,
    });
    response.notificationMessage.notificationData = [new PreEncoded(parts, n)];
    w.send(response);
  }
  if (!keepAlives) return;
  for (const f of subs) {
    if (queue.length === 0) return;
    if (f.due > 0 || f.idle < f.sub.maxKeepAliveCount) continue;
    f.idle = 0;
    const w = queue.shift()!;
    w.send(
      new PublishResponse({
        subscriptionId: f.sub.id,
        availableSequenceNumbers: [],
        moreNotifications: false,
        notificationMessage: { sequenceNumber: f.sequence, publishTime: new Date() },
        results: w.results,
      }),
    );
  }
}

// Publish requests: node-opcua checks the session and sends the response; the rest is above.
const impl = server as unknown as Record<string, unknown> & {
  _apply_on_SessionObject(
    cls: unknown,
    message: { request: { subscriptionAcknowledgements?: unknown[] | null } },
    channel: unknown,
    action: (session: NodeSession, send: Send) => void,
  ): void;
};
if (typeof impl._on_PublishRequest !== "function") {
  throw new Error("node-opcua's OPCUAServer has no _on_PublishRequest; this PLC needs updating");
}
impl._on_PublishRequest = (
  message: { request: { subscriptionAcknowledgements?: unknown[] | null } },
  channel: unknown,
) => {
  impl._apply_on_SessionObject(PublishResponse, message, channel, (session, send) => {
    const acks = message.request.subscriptionAcknowledgements ?? [];
    const queue = waiting.get(session) ?? [];
    waiting.set(session, queue);
    queue.push({ send, results: acks.map(() => StatusCodes.Good) });
    flush(session, false);
  });
};

const engine = server.engine as unknown as { _sessions: Record<string, NodeSession> };
function sessions(): NodeSession[] {
  const live = Object.values(engine._sessions);
  for (const s of waiting.keys()) if (!live.includes(s)) waiting.delete(s);
  return live;
}

function step(): void {
  if (!frozen) tick++;
  for (const session of sessions()) {
    for (const f of subscriptionsOf(session)) f.due = f.index.length;
    flush(session, false);
  }
}

/** Keep-alives: each subscription's publishing intervals without a response, counted. */
const keeper = setInterval(() => {
  for (const session of sessions()) {
    for (const f of subscriptionsOf(session)) f.idle += 100 / f.sub.publishingInterval;
    flush(session, true);
  }
}, 100);

const ticker = churn > 0 ? setInterval(step, churn) : 0;
let last = performance.now();
const reporter = setInterval(() => {
  const now = performance.now();
  if (sent > 0) console.log(`PLC sent ${Math.round(sent * 1000 / (now - last))} changes/s`);
  sent = 0;
  last = now;
}, 1000);
await server.start();
console.log(`PLC ready ${server.getEndpointUrl()}`);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  clearInterval(ticker);
  clearInterval(keeper);
  clearInterval(reporter);
  await server.shutdown(0);
  for (const m of managers) await m.dispose();
  Deno.exit(0);
}
Deno.addSignalListener("SIGUSR1", () => {
  frozen = true;
  console.log(`PLC frozen at tick ${tick}`);
});
Deno.addSignalListener("SIGTERM", shutdown);
Deno.addSignalListener("SIGINT", shutdown);
setTimeout(shutdown, seconds * 1000);
