import "../all.ts";
import { deepStrictEqual as assertEquals } from "node:assert";
import {
  AttributeIds,
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
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
import { freePort } from "../../tests/kit/helpers.ts";
import { OpcuaServerSink } from "./opcua_server.ts";
import { fromVariant } from "./opcua_values.ts";

function point(id: string, value: Point["value"], type: Point["type"], status = 0): Point {
  return { id, value, type, status, time: 1_700_000_000_000, hops: ["plant1"], cause: null };
}

Deno.test("the server follows the store: variables appear, change status, disappear, and writes go to the hop", async () => {
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
  const writes: WriteRequest[] = [];
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
  store.apply(point("plant1/plc/Line1/Temp", 21.5, "Double"), "link:dmz");
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
  try {
    await sink.start(ctx);
    await client.connect(`opc.tcp://127.0.0.1:${port}/hopgate`);
    const session = await client.createSession();
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
  } finally {
    await client.disconnect();
    await certificates.dispose();
    await sink.stop();
    abort.abort();
    await Deno.remove(dir, { recursive: true });
  }
});
