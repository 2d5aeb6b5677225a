/** OPC UA settings are checked before anything starts. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { runHopgate, tempDir } from "./kit/helpers.ts";

Deno.test("a malformed OPC UA node id is refused before anything starts, naming the flag", async () => {
  await using dir = await tempDir();
  const r = await runHopgate([
    "run",
    "--name",
    "p",
    "--opcua",
    "plc=opc.tcp://127.0.0.1:4840",
    "--opcua-browse",
    "Objects",
    "--opcua-nodes",
    "ns=2;s=Line2.Temp,Line2",
    "--data-dir",
    dir.path,
  ]);
  assertEquals(r.code, 2, r.stderr);
  assert(/--opcua-browse.*"Objects" is not an OPC UA node id/.test(r.stderr), r.stderr);
  assert(/--opcua-nodes.*"Line2" is not an OPC UA node id/.test(r.stderr), r.stderr);
  assert(!/ns=2;s=Line2.Temp" is not/.test(r.stderr), r.stderr);
});

Deno.test("an OPC UA server without anonymous access needs a users file, and says how to make one", async () => {
  await using dir = await tempDir();
  const r = await runHopgate([
    "run",
    "--name",
    "it",
    "--sim",
    "1",
    "--opcua-server",
    "127.0.0.1:4840",
    "--data-dir",
    dir.path,
  ]);
  assertEquals(r.code, 2, r.stderr);
  assert(r.stderr.includes(`hopgate users add <user> --data-dir ${dir.path}`), r.stderr);
});
