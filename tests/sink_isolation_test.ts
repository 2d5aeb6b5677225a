/**
 * Every sink isolated: a point a sink cannot take (a Byte of -5.5, a time
 * that is no time) never takes the hop down. Before, such a Byte crashed a
 * relay hop with "Uncaught null": node-opcua refused the value inside the
 * store listener, the link closed with "internal error", and failing the
 * link's points applied the value again, out of the TLS socket's data event.
 * Here a hop runs in the test process with its real OPC UA server, the test
 * applies points straight to its store (as a link does, failing the origin
 * as a lost link does), and a node-opcua client reads the server.
 */
import "../adapters/all.ts";
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import {
  AttributeIds,
  type ClientSession,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  TimestampsToReturn,
} from "node-opcua";
import { Hop, resolveConfig } from "../core/mod.ts";
import { opcuaAdapters } from "../adapters/opcua/mod.ts";
import { fromVariant } from "../adapters/opcua/opcua_values.ts";
import { HandSource } from "./kit/hand_source.ts";
import { freePort, tempDir, waitFor } from "./kit/helpers.ts";

const good = StatusCodes.Good.value;
const outOfRange = StatusCodes.BadOutOfRange.value;
const encoding = StatusCodes.BadDataEncodingInvalid.value;

Deno.test("a point the OPC UA server cannot show reads as Bad; the hop, its server and every other point go on", async () => {
  await using dir = await tempDir();
  const log: string[] = [];
  await configure({
    reset: true,
    sinks: { memory: (r: LogRecord) => log.push(r.message.map((m) => String(m)).join("")) },
    loggers: [
      { category: ["hopgate"], lowestLevel: "info", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  const port = freePort();
  const config = resolveConfig([{
    label: null,
    baseDir: dir.path,
    values: {
      name: "dmz",
      sim: 1, // the configuration needs a source; the test drives its own
      "data-dir": `${dir.path}/hop`,
      "opcua-server": `127.0.0.1:${port}`,
      "opcua-server-security": "None",
      "opcua-server-anonymous": true,
      "status-interval": 0,
    },
  }]);
  const source = new HandSource("hand", "test", ["plant1"]);
  const hop = new Hop(config, [source, ...opcuaAdapters(config)]);
  // The client's own certificate stays in the temp dir, not in ~/.config.
  const certificates = new OPCUACertificateManager({
    rootFolder: `${dir.path}/client-pki`,
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
  const ids = {
    ok: "plant1/plc/Line1/Temp",
    byte: "plant1/plc/Line1/Mode",
    newByte: "plant1/plc/Line1/Step",
    int32: "plant1/plc/Line1/Count",
    int64: "plant1/plc/Line1/Total",
    date: "plant1/plc/Line1/Since",
    noTime: "plant1/plc/Line1/Pressure",
  };
  let session: ClientSession | null = null;
  try {
    await hop.start();
    source.apply({ id: ids.ok, value: 21.5, type: "Double" });
    source.apply({ id: ids.byte, value: 5, type: "Byte" });
    await client.connect(`opc.tcp://127.0.0.1:${port}/hopgate`);
    session = await client.createSession();
    const s = session;
    const read = async (id: string) => {
      const dv = await s.read({ nodeId: `ns=2;s=${id}`, attributeId: AttributeIds.Value });
      return [dv.statusCode.value >>> 0, fromVariant(dv.value)?.value ?? null];
    };
    assertEquals(await read(ids.byte), [good, 5]);

    // A Good point keeps notifying a subscribed client throughout.
    const sub = await session.createSubscription2({
      requestedPublishingInterval: 50,
      requestedMaxKeepAliveCount: 10,
      requestedLifetimeCount: 100,
      publishingEnabled: true,
    });
    const seen: unknown[] = [];
    const item = await sub.monitor(
      { nodeId: `ns=2;s=${ids.ok}`, attributeId: AttributeIds.Value },
      { samplingInterval: 0, queueSize: 100, discardOldest: true },
      TimestampsToReturn.Both,
    );
    item.on("changed", (dv) => seen.push(dv.value.value));
    await waitFor("the first notification", () => seen.includes(21.5));

    // What crashed the relay: a Byte of -5.5 on an exposed point and on a new one, then the
    // lost link's failure status applied with the same value.
    source.apply({ id: ids.byte, value: -5.5, type: "Byte" });
    source.apply({ id: ids.newByte, value: -5.5, type: "Byte" });
    const cause = { hop: "dmz", via: "hand", since: Date.now(), reason: "internal error" };
    assertEquals(hop.store.failOrigin("hand", cause, (p) => p.id === ids.byte), 1);
    // And what node-opcua would have changed silently.
    source.apply({ id: ids.int32, value: 1e300, type: "Int32" });
    source.apply({ id: ids.int64, value: 2n ** 70n, type: "Int64" });
    source.apply({ id: ids.date, value: new Date(NaN), type: "DateTime" });
    source.apply({ id: ids.noTime, value: 1.5, type: "Double", time: NaN });
    // Many more updates of an unfit point, each handed to node-opcua on its own (the server sets
    // a point changed several times in one task once, in a microtask after it, which the await
    // lets run): logged once, not once per update.
    for (let i = 0; i < 1000; i++) {
      source.apply({ id: ids.int32, value: 1e300 + i, type: "Int32" });
      await Promise.resolve();
    }
    source.apply({ id: ids.ok, value: 22.5, type: "Double" });

    assertEquals(await read(ids.byte), [outOfRange, null]);
    assertEquals(await read(ids.newByte), [outOfRange, null]);
    assertEquals(await read(ids.int32), [outOfRange, null]);
    assertEquals(await read(ids.int64), [outOfRange, null]);
    assertEquals(await read(ids.date), [encoding, null]);
    assertEquals(await read(ids.noTime), [encoding, null]);
    assertEquals(await read(ids.ok), [good, 22.5]);
    await waitFor("the notification after the unfit points", () => seen.includes(22.5));

    // The adapter stays up and shows the latest misfit; the log has one line per point.
    const status = hop.statuses().find((st) => st.name === "opcua-server")!;
    assertEquals([status.run, status.connection], ["running", "connected"]);
    assert(status.lastError?.includes(ids.int32), String(status.lastError));
    for (const id of Object.values(ids).filter((id) => id !== ids.ok)) {
      const lines = log.filter((l) => l.includes(`Point ${id} cannot be served`));
      assertEquals(lines.length, 1, `${id}:\n${log.join("\n")}`);
    }
    assert(!log.some((l) => /Sink .* failed/.test(l)), "no sink threw:\n" + log.join("\n"));

    // A value that fits makes the point Good again.
    source.apply({ id: ids.byte, value: 7, type: "Byte" });
    assertEquals(await read(ids.byte), [good, 7]);
    await sub.terminate();
  } finally {
    await session?.close().catch(() => {});
    await client.disconnect();
    await certificates.dispose();
    await hop.stop("test over");
    await reset();
  }
});
