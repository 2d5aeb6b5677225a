/** The OPC UA source against a node-opcua PLC in its own process; the hop runs under its derived permissions. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { addUser } from "../adapters/opcua/opcua_users.ts";
import { Status, statusName } from "../core/mod.ts";
import { freePort, tempDir } from "./_helpers.ts";
import { expectLine, startHop, startPlc, stopHop, TestClient, testUser } from "./_opcua.ts";
import { plcVariable } from "./fixtures/plc_values.ts";

Deno.test("a plant hop reads 1,000 browsed variables of mixed types over SignAndEncrypt, exactly", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "plant1");
  await Deno.mkdir(data, { recursive: true });
  await addUser(join(data, "users.json"), "tester", "test-password");
  const plc = await startPlc({ count: 1000, pki: join(dir.path, "plc") });
  const client = await TestClient.create(join(dir.path, "client"), data);
  const serverPort = freePort();
  const hop = startHop([
    "--name",
    "plant1",
    "--opcua",
    `plc=${plc.url}`,
    "--opcua-trust-unknown",
    "--opcua-server",
    `127.0.0.1:${serverPort}`,
    "--data-dir",
    data,
    "--status-interval",
    "0",
  ], dir.path);
  try {
    await expectLine(hop, /Connected to opcua:plc .* 1002 variables/, 40_000);
    await client.connect(`opc.tcp://127.0.0.1:${serverPort}/hopgate`, testUser);
    const vars = Array.from({ length: 1000 }, (_, i) => plcVariable(i));
    const ids = vars.map((v) => `plant1/plc/${v.path}`);
    const read = await client.read(ids);
    const wrong = read.flatMap((r, i) => {
      const want = { type: vars[i]!.type, value: vars[i]!.value };
      try {
        assertEquals(r.typed, want);
        return r.status === Status.Good ? [] : [`${ids[i]}: ${statusName(r.status)}`];
      } catch {
        return [`${ids[i]}: ${String(r.typed?.value)} (${r.typed?.type}) != ${String(want.value)}`];
      }
    });
    assertEquals(wrong.slice(0, 10), []);
    assert(typeof read[2]!.typed!.value === "bigint" && read[2]!.typed!.value < -(2n ** 53n));
  } finally {
    await client.close();
    await stopHop(hop);
    await plc.proc.stop();
  }
});
