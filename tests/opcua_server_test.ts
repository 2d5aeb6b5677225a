/**
 * A hop's --opcua-server seen by an OPC UA client: secure by default, the
 * mirror's values and statuses, subscriptions, writes under --writable,
 * and the source's loss and return (the PLC in its own process).
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert";
import { join } from "node:path";
import {
  AttributeIds,
  type ClientSubscription,
  DataType,
  TimestampsToReturn,
  UserTokenType,
} from "node-opcua";
import { Status, statusName } from "../core/mod.ts";
import { freePort, runHopgate, tempDir, waitFor } from "./kit/helpers.ts";
import { addUser } from "../adapters/opcua/opcua_users.ts";
import { expectLine, startPlantHop, startPlc, stopHop, TestClient, testUser } from "./kit/opcua.ts";

Deno.test("an OPC UA client of a hop sees values, BadWaitingForInitialData, bad status while the PLC is down, and writes only where allowed", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "plant1");
  const pwFile = join(dir.path, "password");
  await Deno.writeTextFile(pwFile, "test-password\n");
  const added = await runHopgate([
    "users",
    "add",
    "tester",
    "--data-dir",
    data,
    "--password-file",
    pwFile,
  ]);
  assertEquals(added.code, 0, added.stderr);
  const plcPki = join(dir.path, "plc");
  let plc = await startPlc({ count: 24, pki: plcPki, extra: ["--pending"] });
  const client = await TestClient.create(join(dir.path, "client"), data);
  const anonymous = await TestClient.create(join(dir.path, "anon"), data);
  const port = freePort();
  const hop = startPlantHop(plc, dir.path, data, [
    "--opcua-server",
    `127.0.0.1:${port}`,
    "--writable",
    "plant1/plc/Plant/Setpoint",
  ]);
  const url = `opc.tcp://127.0.0.1:${port}/hopgate`;
  const counter = "plant1/plc/Plant/Counter";
  let sub: ClientSubscription | null = null;
  try {
    await expectLine(hop, /OPC UA server listening/);
    await expectLine(hop, /Connected to opcua:plc .* 27 variables, 27 monitored/);

    // Secure by default: no endpoint without encryption, no anonymous sessions.
    assertEquals([...new Set(await anonymous.securityModes(url))], ["SignAndEncrypt"]);
    await rejects(
      anonymous.connect(url, { type: UserTokenType.Anonymous }),
      "anonymous sessions are refused by default",
    );
    await rejects(
      anonymous.connect(url, {
        type: UserTokenType.UserName,
        userName: "tester",
        password: "wrong-password",
      }),
      "a wrong password is refused",
    );
    await rejects(
      anonymous.connect(url, {
        type: UserTokenType.UserName,
        userName: "nobody",
        password: "test-password",
      }),
      "an unknown user is refused",
    );
    // Each failed login has its line: the remote address, the reason, the client application
    // (node-opcua's client refuses an anonymous session itself: the endpoint offers none).
    const app = /client application urn:hopgate-test:client "hopgate-test-client"/.source;
    await expectLine(
      hop,
      new RegExp(
        `Refused a login from 127\\.0\\.0\\.1:\\d+: wrong password for user "tester" \\(Bad\\w+\\), ${app}`,
      ),
    );
    await expectLine(
      hop,
      new RegExp(
        `Refused a login from 127\\.0\\.0\\.1:\\d+: unknown user "nobody" \\(Bad\\w+\\), ${app}`,
      ),
    );
    const session = await client.connect(url, testUser);

    // A PLC variable without a value yet: its declared type, BadWaitingForInitialData.
    const [pending] = await client.read(["plant1/plc/Plant/Pending"]);
    assertEquals(statusName(pending!.status), "BadWaitingForInitialData");
    const pendingType = await session.read({
      nodeId: "ns=2;s=plant1/plc/Plant/Pending",
      attributeId: AttributeIds.DataType,
    });
    assertEquals(pendingType.value.value.toString(), "ns=0;i=8", "declared Int64");

    // Subscribe to the changing counter: notifications arrive with Good status.
    sub = await session.createSubscription2({
      requestedPublishingInterval: 100,
      requestedMaxKeepAliveCount: 10,
      requestedLifetimeCount: 100,
      publishingEnabled: true,
    });
    const seen: { status: number; value: unknown }[] = [];
    const item = await sub.monitor(
      { nodeId: `ns=2;s=${counter}`, attributeId: AttributeIds.Value },
      { samplingInterval: 50, queueSize: 10, discardOldest: true },
      TimestampsToReturn.Both,
    );
    item.on("changed", (dv) => seen.push({ status: dv.statusCode.value, value: dv.value.value }));
    await waitFor(
      "three Good counter notifications",
      () => seen.filter((s) => s.status === Status.Good).length >= 3,
    );

    // Writes: allowed by --writable reach the PLC; others are refused at the hop.
    const write = async (id: string, dataType: DataType, value: unknown) =>
      (await session.write({
        nodeId: `ns=2;s=${id}`,
        attributeId: AttributeIds.Value,
        value: { value: { dataType, value } },
      })).value >>> 0;
    assertEquals(
      statusName(await write("plant1/plc/Plant/Setpoint", DataType.Double, 42.5)),
      "Good",
    );
    await expectLine(plc.proc, /PLC setpoint written 42.5/, 10_000);
    assertEquals(
      statusName(await write(counter, DataType.Int32, 7)),
      statusName(Status.BadNotWritable),
    );
    assertEquals(
      statusName(await write("plant1/plc/Plant/Setpoint", DataType.String, "x")),
      statusName(Status.BadTypeMismatch),
    );
    // Every write has its audit line: user, client application and address, point, type, result.
    const by =
      /OPC UA write by user "tester" \(urn:hopgate-test:client "hopgate-test-client", 127\.0\.0\.1:\d+\)/
        .source;
    await expectLine(hop, new RegExp(`${by} to plant1/plc/Plant/Setpoint \\(Double\\): Good`));
    await expectLine(
      hop,
      new RegExp(`${by} to plant1/plc/Plant/Counter \\(Int32\\): BadNotWritable`),
    );
    await expectLine(
      hop,
      new RegExp(`${by} to plant1/plc/Plant/Setpoint \\(String\\): BadTypeMismatch`),
    );

    // The PLC dies: the hop's variables keep their last value as Uncertain, with the cause logged.
    await plc.proc.stop("SIGKILL");
    await waitFor(
      "an UncertainNoCommunicationLastUsableValue notification",
      () => seen.some((s) => s.status === Status.UncertainNoCommunicationLastUsableValue),
      15_000,
    );
    await expectLine(hop, /opcua:plc at .* is lost or unreachable: .*points marked/);
    const [down] = await client.read([counter]);
    assertEquals(statusName(down!.status), "UncertainNoCommunicationLastUsableValue");
    assertEquals(
      statusName(await write("plant1/plc/Plant/Setpoint", DataType.Double, 1)),
      statusName(Status.BadNotConnected),
      "no write succeeds against a point whose source is lost",
    );

    // The PLC returns on the same port after a pause: values flow again without restarting the hop.
    const lostAt = seen.length;
    plc = await startPlc({ count: 24, pki: plcPki, port: plc.port });
    await waitFor(
      "Good counter values after the PLC returned",
      () => seen.slice(lostAt).filter((s) => s.status === Status.Good).length >= 3,
      30_000,
    );
    const [up] = await client.read([counter]);
    assertEquals(statusName(up!.status), "Good");
    // One warning when the outage starts and one when it ends, however many attempts between.
    await expectLine(hop, /opcua:plc is back after [\d.]+ s and \d+ failed attempts/);
    assertEquals(hop.output().match(/is lost or unreachable/g)?.length, 1, hop.output());
  } finally {
    await sub?.terminate().catch(() => {});
    await client.close();
    await anonymous.close();
    await stopHop(hop);
    await plc.proc.stop();
  }
  assert(!hop.output().includes("test-password"), "the password never appears in logs");
});

Deno.test("a PLC variable that appears when the PLC comes back takes writes, and one that went refuses them", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "plant1");
  await Deno.mkdir(data, { recursive: true });
  await addUser(join(data, "users.json"), "tester", "test-password");
  const plcPki = join(dir.path, "plc");
  let plc = await startPlc({ count: 4, pki: plcPki });
  const client = await TestClient.create(join(dir.path, "client"), data);
  const port = freePort();
  const hop = startPlantHop(plc, dir.path, data, [
    "--opcua-server",
    `127.0.0.1:${port}`,
    "--writable",
    "plant1/plc/Plant/*",
  ]);
  try {
    await expectLine(hop, /OPC UA server listening/);
    await expectLine(hop, /Connected to opcua:plc .* 6 variables, 6 monitored/);
    const session = await client.connect(`opc.tcp://127.0.0.1:${port}/hopgate`, testUser);
    const write = async (id: string, value: number) =>
      statusName(
        (await session.write({
          nodeId: `ns=2;s=${id}`,
          attributeId: AttributeIds.Value,
          value: { value: { dataType: DataType.Double, value } },
        })).value >>> 0,
      );
    // The first write makes the source's map of its items by id.
    assertEquals(await write("plant1/plc/Plant/Setpoint", 1.5), "Good");
    await expectLine(plc.proc, /PLC setpoint written 1.5/, 10_000);

    // The PLC comes back with its setpoint under another name: the hop browses it again.
    await plc.proc.stop("SIGKILL");
    await expectLine(hop, /opcua:plc at .* is lost or unreachable/);
    plc = await startPlc({
      count: 4,
      pki: plcPki,
      port: plc.port,
      extra: ["--setpoint", "Plant/Valve"],
    });
    await expectLine(hop, /1 points of opcua:plc are gone/, 30_000);
    // Writes go through once the source is connected again (its points read Good a little earlier).
    await expectLine(hop, /opcua:plc is back after/, 30_000);
    const [valve] = await client.read(["plant1/plc/Plant/Valve"]);
    assertEquals(statusName(valve!.status), "Good");
    assertEquals(await write("plant1/plc/Plant/Valve", 2.5), "Good");
    await expectLine(plc.proc, /PLC setpoint written 2.5/, 10_000);
    assertEquals(await write("plant1/plc/Plant/Setpoint", 3.5), "BadNodeIdUnknown");
    assert(
      !plc.proc.output().includes("written 3.5"),
      "the gone point's write never reached the PLC",
    );
  } finally {
    await client.close();
    await stopHop(hop);
    await plc.proc.stop();
  }
});
