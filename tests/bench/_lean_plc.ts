/**
 * A PLC for the ingest benchmark that is cheap per change, so the hop, not
 * the PLC, is what is measured: a node-opcua server whose `--count` Double
 * variables (`Plant/Line<k>/D<i>`) are browsed, read and monitored as usual,
 * but are never sampled (their MinimumSamplingInterval is an hour, so the
 * server revises every sampling interval to that). Instead, every `--churn`
 * ms each monitored item of every subscription gets a new value put straight
 * into its queue, one shared DataValue per tick: what a PLC written in C does
 * when its whole process image changes, without node-opcua's per-sample work.
 * Encoding, signing and encrypting the publish responses is node-opcua's own.
 *
 * Options: --port, --count, --churn <ms> (0: values never change), --pki <dir>,
 * --seconds (exits by itself after this long). Prints `PLC ready <endpoint>`, then
 * `PLC queued <n> changes/s` every second while it changes values.
 */
import { parseArgs } from "node:util";
import {
  DataType,
  DataValue,
  MessageSecurityMode,
  MonitoredItemNotification,
  nodesets,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Variant,
} from "node-opcua";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string", default: "4840" },
    count: { type: "string", default: "10000" },
    churn: { type: "string", default: "100" },
    pki: { type: "string" },
    seconds: { type: "string", default: "600" },
  },
});
const pki = args.pki ?? await Deno.makeTempDir({ prefix: "lean-plc-pki-" });
const count = Number(args.count);
const churn = Number(args.churn);

const managers = ["pki", "userpki"].map((name) =>
  new OPCUACertificateManager({
    rootFolder: `${pki}/${name}`,
    automaticallyAcceptUnknownCertificate: true,
    disableFileWatchers: true,
  })
);
for (const m of managers) await m.initialize();

const server = new OPCUAServer({
  port: Number(args.port),
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

/** The server's internals this PLC drives: only what the tick below touches. */
interface LeanItem {
  clientHandle: number;
  queueSize: number;
  queue: MonitoredItemNotification[];
  monitoringMode: number;
}
interface LeanSubscription {
  monitoredItems: Map<number, LeanItem>;
  _hasUncollectedMonitoredItemNotifications: boolean;
}
interface LeanSession {
  publishEngine?: { subscriptions: LeanSubscription[] };
}
const engine = server.engine as unknown as { _sessions: Record<string, LeanSession> };
const reporting = 2; // MonitoringMode.Reporting

let tick = 0;
let queued = 0;
function step() {
  tick++;
  const now = new Date();
  const shared = new DataValue({
    value: new Variant({ dataType: DataType.Double, value: tick }),
    statusCode: StatusCodes.Good,
    sourceTimestamp: now,
    serverTimestamp: now,
  });
  for (const session of Object.values(engine._sessions)) {
    for (const sub of session.publishEngine?.subscriptions ?? []) {
      let any = false;
      for (const mi of sub.monitoredItems.values()) {
        if (mi.monitoringMode !== reporting) continue;
        const n = new MonitoredItemNotification(null);
        n.clientHandle = mi.clientHandle;
        n.value = shared;
        if (mi.queue.length >= mi.queueSize) {
          // A full queue drops its oldest, and the next oldest says so (the Overflow bit).
          mi.queue.shift();
          const head = mi.queue[0];
          if (head) {
            head.value = new DataValue({
              value: head.value.value,
              statusCode: StatusCodes.GoodWithOverflowBit,
              sourceTimestamp: head.value.sourceTimestamp,
              serverTimestamp: head.value.serverTimestamp,
            });
          }
        }
        mi.queue.push(n);
        queued++;
        any = true;
      }
      if (any) sub._hasUncollectedMonitoredItemNotifications = true;
    }
  }
}

const ticker = churn > 0 ? setInterval(step, churn) : 0;
let last = performance.now();
const reporter = churn > 0
  ? setInterval(() => {
    const now = performance.now();
    if (queued > 0) console.log(`PLC queued ${Math.round(queued * 1000 / (now - last))} changes/s`);
    queued = 0;
    last = now;
  }, 1000)
  : 0;
await server.start();
console.log(`PLC ready ${server.getEndpointUrl()}`);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  clearInterval(ticker);
  clearInterval(reporter);
  await server.shutdown(0);
  for (const m of managers) await m.dispose();
  Deno.exit(0);
}
Deno.addSignalListener("SIGTERM", shutdown);
Deno.addSignalListener("SIGINT", shutdown);
setTimeout(shutdown, Number(args.seconds) * 1000);
