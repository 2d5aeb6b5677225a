import "../all.ts";
import { deepStrictEqual as assertEquals } from "node:assert";
import {
  AttributeIds,
  type ClientSession,
  DataType,
  type DataValue,
  MessageSecurityMode,
  MonitoredItem,
  MonitoringMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  VariantArrayType,
} from "node-opcua";
import {
  adapterContext,
  logger,
  type Point,
  PointStore,
  resolveConfig,
  Status,
  statusName,
  systemClock,
  type WriteRequest,
} from "../../core/mod.ts";
import { freePort, waitFor } from "../../tests/kit/helpers.ts";
import { OpcuaServerSink } from "./opcua_server.ts";
import { fromVariant } from "./opcua_values.ts";

function point(id: string, value: Point["value"], type: Point["type"], status = 0): Point {
  return { id, value, type, status, time: 1_700_000_000_000, hops: ["plant1"], cause: null };
}

/** A server sink of hop `it` on a free port (security None, anonymous) and a client for it. */
async function serverUnderTest(writes: WriteRequest[] = []) {
  const dir = await Deno.makeTempDir({ prefix: "hopgate-opcua-server-" });
  const port = freePort();
  const config = resolveConfig([{
    label: null,
    baseDir: dir,
    values: {
      name: "it",
      sim: 1,
      "data-dir": dir,
      "opcua-server": `127.0.0.1:${port}`,
      "opcua-server-security": "None",
      "opcua-server-anonymous": true,
    },
  }]);
  const store = new PointStore("it");
  const abort = new AbortController();
  const sink = new OpcuaServerSink(config);
  const ctx = adapterContext(sink, {
    hop: "it",
    config,
    store,
    clock: systemClock,
    signal: abort.signal,
    log: logger("opcua", "test"),
    write: (r) => {
      writes.push(r);
      return Promise.resolve(Status.Good);
    },
  });
  // The client's own certificate stays in the temp dir, not in ~/.config.
  const certificates = new OPCUACertificateManager({
    rootFolder: `${dir}/client-pki`,
    automaticallyAcceptUnknownCertificate: true,
    disableFileWatchers: true,
  });
  const client = OPCUAClient.create({
    clientCertificateManager: certificates,
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
  });
  return {
    store,
    sink,
    /** Starts the sink and connects the client: a session. */
    async open() {
      await sink.start(ctx);
      await client.connect(`opc.tcp://127.0.0.1:${port}/hopgate`);
      return await client.createSession();
    },
    async [Symbol.asyncDispose]() {
      await client.disconnect();
      await certificates.dispose();
      await sink.stop();
      abort.abort();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A subscription of `session` publishing every `ms` (keep-alive every 10 publishes). */
function subscribe(session: ClientSession, ms: number) {
  return session.createSubscription2({
    requestedPublishingInterval: ms,
    requestedMaxKeepAliveCount: 10,
    requestedLifetimeCount: 100,
    publishingEnabled: true,
  });
}

Deno.test("the server follows the store: variables appear, change status, disappear, and writes go to the hop", async () => {
  const writes: WriteRequest[] = [];
  await using server = await serverUnderTest(writes);
  const { store } = server;
  store.apply(point("plant1/plc/Line1/Temp", 21.5, "Double"), "link:dmz");
  const session = await server.open();
  const read = async (id: string) => {
    const dv = await session.read({ nodeId: `ns=2;s=${id}`, attributeId: AttributeIds.Value });
    return [statusName(dv.statusCode.value >>> 0), fromVariant(dv.value)?.value ?? null];
  };

  assertEquals(await read("plant1/plc/Line1/Temp"), ["Good", 21.5]);

  // A lost link: the variable reads with the failure status and the last value.
  store.apply(
    point(
      "plant1/plc/Line1/Temp",
      21.5,
      "Double",
      Status.UncertainNoCommunicationLastUsableValue,
    ),
    "link:dmz",
  );
  assertEquals(await read("plant1/plc/Line1/Temp"), [
    "UncertainNoCommunicationLastUsableValue",
    21.5,
  ]);

  // Lost with no usable value: no value, and the status says why.
  store.apply(
    point("plant1/plc/Line1/Level", null, "Float", Status.BadNoCommunication),
    "link:dmz",
  );
  assertEquals(await read("plant1/plc/Line1/Level"), ["BadNoCommunication", null]);

  // Changes in one task reach node-opcua once, after it, with the point's latest state; until
  // then the status says how many points wait.
  for (const v of [30, 31, 32]) {
    store.apply(point("plant1/plc/Line1/Temp", v, "Double"), "link:dmz");
  }
  assertEquals(server.sink.status().detail, "1 point waiting to be served");
  await Promise.resolve();
  assertEquals(server.sink.status().detail, undefined);
  assertEquals(await read("plant1/plc/Line1/Temp"), ["Good", 32]);

  // New points appear (64-bit exact), removed ones disappear.
  store.apply(point("plant1/plc/Line2/Count", 2n ** 60n + 1n, "Int64"), "link:dmz");
  assertEquals(await read("plant1/plc/Line2/Count"), ["Good", 2n ** 60n + 1n]);
  store.remove("plant1/plc/Line1/Temp");
  assertEquals((await read("plant1/plc/Line1/Temp"))[0], "BadNodeIdUnknown");

  // A client's write goes to the hop's write routing, as a request from this hop.
  const result = await session.write({
    nodeId: "ns=2;s=plant1/plc/Line2/Count",
    attributeId: AttributeIds.Value,
    value: {
      value: { dataType: DataType.Int64, arrayType: VariantArrayType.Scalar, value: [0, 5] },
    },
  });
  assertEquals(result.name, "Good");
  assertEquals(writes, [{ id: "plant1/plc/Line2/Count", value: 5n, via: [] }]);

  // A point whose type changes gets a new variable under the same node id; writes reach it
  // with its new type (every variable shares one setter, which finds the point by node id).
  store.apply(point("plant1/plc/Line2/Count", 7.5, "Double"), "link:dmz");
  assertEquals(await read("plant1/plc/Line2/Count"), ["Good", 7.5]);
  const retyped = await session.write({
    nodeId: "ns=2;s=plant1/plc/Line2/Count",
    attributeId: AttributeIds.Value,
    value: { value: { dataType: DataType.Double, value: 8.25 } },
  });
  assertEquals(retyped.name, "Good");
  assertEquals(writes.at(-1), { id: "plant1/plc/Line2/Count", value: 8.25, via: [] });
  await session.close();
});

Deno.test("a client's read under way when a change is handed over does not put the state before it back", async () => {
  await using server = await serverUnderTest();
  const { store, sink } = server;
  const id = "plant1/plc/Line1/Temp";
  const lost = Status.UncertainNoCommunicationLastUsableValue;
  store.apply(point(id, 21.5, "Double", lost), "link:dmz");
  const session = await server.open();
  const variable = sink.variableOf(id)!;
  // The link is back: the change waits for the sink's flush, a microtask...
  store.apply(point(id, 21.5, "Double"), "link:dmz");
  // ...and a read begins before the flush runs, as the server's read service begins one.
  const during = await variable.readValueAsync(null);
  assertEquals(
    statusName(during.statusCode.value >>> 0),
    "UncertainNoCommunicationLastUsableValue",
  );
  // The read's answer did not overwrite the change: the variable, and every later read, hold it.
  assertEquals(statusName(variable.readValue().statusCode.value >>> 0), "Good");
  const after = await session.read({ nodeId: `ns=2;s=${id}`, attributeId: AttributeIds.Value });
  assertEquals([statusName(after.statusCode.value >>> 0), fromVariant(after.value)?.value], [
    "Good",
    21.5,
  ]);
  await session.close();
});

Deno.test("a subscription that asks for a sampling interval gets each change at once, not at the next sample", async () => {
  await using server = await serverUnderTest();
  const { store } = server;
  const id = "plant1/plc/Line1/Temp";
  store.apply(point(id, 1, "Double"), "link:dmz");
  const session = await server.open();
  const subscription = await subscribe(session, 100);
  // Sampled on a timer, node-opcua would see a change only at the next tick, up to 10 s later.
  const item = await subscription.monitor(
    { nodeId: `ns=2;s=${id}`, attributeId: AttributeIds.Value },
    { samplingInterval: 10_000, queueSize: 1, discardOldest: true },
    TimestampsToReturn.Both,
  );
  assertEquals(item.result?.revisedSamplingInterval, 10_000);
  const seen: number[] = [];
  item.on("changed", (dv: DataValue) => seen.push(dv.value.value as number));
  await waitFor("the initial value", () => seen.includes(1) || undefined, 5000);
  const t0 = performance.now();
  store.apply(point(id, 2, "Double"), "link:dmz");
  await waitFor("the change", () => seen.includes(2) || undefined, 3000);
  const ms = performance.now() - t0;
  // A publishing interval, not a sampling interval.
  if (ms > 1500) throw new Error(`the change took ${Math.round(ms)} ms`);
  await subscription.terminate();
  await session.close();
});

Deno.test("a subscription looks only at the items that changed, and each change still arrives", async () => {
  await using server = await serverUnderTest();
  const { store } = server;
  const ids = Array.from({ length: 300 }, (_, i) => `plant1/plc/Line1/P${i}`);
  for (const id of ids) store.apply(point(id, 0, "Double"), "link:dmz");
  const session = await server.open();
  const subscription = await subscribe(session, 50);
  const group = await subscription.monitorItems(
    ids.map((id) => ({ nodeId: `ns=2;s=${id}`, attributeId: AttributeIds.Value })),
    { samplingInterval: 100, queueSize: 1, discardOldest: true },
    TimestampsToReturn.Both,
  );
  const last = new Map<number, number>();
  group.on("changed", (_item: unknown, dv: DataValue, index: number) => {
    last.set(index, dv.value.value as number);
  });
  await waitFor("every initial value", () => last.size === ids.length || undefined, 10_000);
  // Count the items node-opcua's subscription asks for notifications over some publishes.
  const proto = MonitoredItem.prototype as unknown as {
    extractMonitoredItemNotifications(...args: unknown[]): unknown[];
  };
  const extract = proto.extractMonitoredItemNotifications;
  let asked = 0;
  proto.extractMonitoredItemNotifications = function (...args: unknown[]) {
    asked++;
    return extract.apply(this, args);
  };
  try {
    for (const [round, i] of [[1, 7], [2, 7], [3, 150], [4, 299]]) {
      store.apply(point(ids[i!]!, round!, "Double"), "link:dmz");
      await waitFor(`change ${round}`, () => last.get(i!) === round || undefined, 3000);
    }
  } finally {
    proto.extractMonitoredItemNotifications = extract;
  }
  // Walking every item at each publish would ask all 300 at least once per change.
  if (asked > 20) throw new Error(`${asked} items asked for 4 changes`);
  assertEquals([last.get(7), last.get(150), last.get(299), last.get(8)], [2, 3, 4, 0]);
  await subscription.terminate();
  await session.close();
});

Deno.test("an item in sampling mode is reported when the item that triggers it changes", async () => {
  await using server = await serverUnderTest();
  const { store } = server;
  const [trigger, linked, other] = ["Trigger", "Linked", "Other"].map((n) =>
    `plant1/plc/Line1/${n}`
  );
  for (const id of [trigger!, linked!, other!]) store.apply(point(id, 0, "Double"), "link:dmz");
  const session = await server.open();
  const subscription = await subscribe(session, 50);
  const seen: string[] = [];
  const monitor = async (id: string) => {
    const item = await subscription.monitor(
      { nodeId: `ns=2;s=${id}`, attributeId: AttributeIds.Value },
      { samplingInterval: 0, queueSize: 1, discardOldest: true },
      TimestampsToReturn.Both,
    );
    item.on("changed", (dv: DataValue) => seen.push(`${id}=${dv.value.value}`));
    await waitFor(`${id}'s initial value`, () => seen.includes(`${id}=0`) || undefined, 5000);
    return item;
  };
  const triggering = await monitor(trigger!);
  const sampled = await monitor(linked!);
  await monitor(other!);
  await sampled.setMonitoringMode(MonitoringMode.Sampling);
  await subscription.setTriggering(triggering, [sampled], null);
  // Sampled, not reported: the change waits in the item's queue while publishes go by (the
  // other item's change is one) until its trigger changes.
  store.apply(point(linked!, 5, "Double"), "link:dmz");
  store.apply(point(other!, 1, "Double"), "link:dmz");
  await waitFor(
    "a publish after the sampled change",
    () => seen.includes(`${other}=1`) || undefined,
    5000,
  );
  if (seen.includes(`${linked}=5`)) throw new Error("an item in sampling mode was reported");
  store.apply(point(trigger!, 7, "Double"), "link:dmz");
  await waitFor(
    "the trigger's change and the linked item's",
    () => (seen.includes(`${trigger}=7`) && seen.includes(`${linked}=5`)) || undefined,
    5000,
  );
  await subscription.terminate();
  await session.close();
});
