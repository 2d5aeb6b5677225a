/** The OPC UA source against a node-opcua PLC in its own process; the hop runs under its derived permissions. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { OPCUACertificateManager } from "node-opcua";
import { addUser } from "../adapters/opcua/opcua_users.ts";
import { opcuaSendChunkBytes } from "../adapters/opcua/opcua_client.ts";
import { Status, statusName } from "../core/mod.ts";
import { freePort, tempDir, waitFor } from "./kit/helpers.ts";
import {
  expectLine,
  startHop,
  startPlantHop,
  startPlc,
  stopHop,
  TestClient,
  testUser,
} from "./kit/opcua.ts";
import { plcVariable } from "./fixtures/plc_values.ts";

Deno.test("a plant hop reads 1,000 browsed variables of mixed types over SignAndEncrypt, exactly, and gives back the heap its subscription left", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "plant1");
  await Deno.mkdir(data, { recursive: true });
  await addUser(join(data, "users.json"), "tester", "test-password");
  const plc = await startPlc({ count: 1000, pki: join(dir.path, "plc") });
  const client = await TestClient.create(join(dir.path, "client"), data);
  const serverPort = freePort();
  const hop = startPlantHop(plc, dir.path, data, ["--opcua-server", `127.0.0.1:${serverPort}`]);
  try {
    await expectLine(hop, /Connected to opcua:plc .* 1002 variables, 1002 monitored/, 90_000);
    // Collected at once, or by the hop's start-up collection when the PLC answered before it.
    await expectLine(
      hop,
      /Subscribed to opcua:plc: (gave back heap, \d+ → \d+ MB in \d+ ms|its heap goes with the start-up collection)/,
    );
    await expectLine(hop, /OPC UA server listening/);
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

/**
 * Forwards 127.0.0.1:`port` to the PLC and keeps the first bytes each client
 * connection sends: its OPC UA Hello.
 */
function helloRecorder(target: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const hellos: Uint8Array[] = [];
  const conns: Deno.Conn[] = [];
  const loop = (async () => {
    for await (const from of listener) {
      const to = await Deno.connect({ hostname: "127.0.0.1", port: target });
      conns.push(from, to);
      void (async () => {
        const first = new Uint8Array(256);
        const n = await from.read(first);
        if (n === null) return;
        hellos.push(first.slice(0, n));
        await to.write(first.subarray(0, n));
        await Promise.all([from.readable.pipeTo(to.writable), to.readable.pipeTo(from.writable)]);
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    hellos,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed by its pipe */ }
      }
      await loop;
    },
  };
}

Deno.test("a plant hop asks its PLC for 64 KiB chunks in its Hello, and reads it through them", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "plant1");
  const plc = await startPlc({ count: 20, pki: join(dir.path, "plc") });
  const recorder = helloRecorder(plc.port);
  const hop = startPlantHop(
    { ...plc, url: `opc.tcp://127.0.0.1:${recorder.port}/plc` },
    dir.path,
    data,
  );
  try {
    await expectLine(hop, /Connected to opcua:plc .* 22 variables, 22 monitored/, 60_000);
    // node-opcua asks for the endpoints on a connection of its own first (with its defaults, one
    // small request); the session's channel comes last.
    const hello = recorder.hellos.at(-1);
    assert(hello !== undefined, "no connection through the recorder");
    // Hello: "HELF", length, protocol version, ReceiveBufferSize, SendBufferSize (UInt32 LE).
    assertEquals(new TextDecoder().decode(hello.subarray(0, 4)), "HELF");
    const view = new DataView(hello.buffer, hello.byteOffset, hello.byteLength);
    assertEquals(view.getUint32(16, true), opcuaSendChunkBytes);
  } finally {
    await stopHop(hop);
    await recorder.close();
    await plc.proc.stop();
  }
});

Deno.test("a PLC that caps monitored items per subscription is still read completely, with a user and Aes256 security", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "plant1");
  await Deno.mkdir(data, { recursive: true });
  await addUser(join(data, "users.json"), "tester", "test-password");
  const password = join(dir.path, "plc-password");
  await Deno.writeTextFile(password, "secret\n");
  const plc = await startPlc({ count: 450, maxItems: 100, pki: join(dir.path, "plc") });
  const client = await TestClient.create(join(dir.path, "client"), data);
  const serverPort = freePort();
  const hop = startPlantHop(plc, dir.path, data, [
    "--opcua-security",
    "SignAndEncrypt:Aes256_Sha256_RsaPss",
    "--opcua-user",
    "op",
    "--opcua-password-file",
    password,
    "--opcua-server",
    `127.0.0.1:${serverPort}`,
  ]);
  try {
    await expectLine(
      hop,
      /Connected to opcua:plc .* 452 variables, 452 monitored in 5 subscriptions/,
      90_000,
    );
    await expectLine(hop, /OPC UA server listening/);
    await client.connect(`opc.tcp://127.0.0.1:${serverPort}/hopgate`, testUser);
    const vars = Array.from({ length: 450 }, (_, i) => plcVariable(i));
    // The last variables sit in the last subscription: all of them are there and Good.
    const read = await client.read(vars.map((v) => `plant1/plc/${v.path}`));
    const bad = read.filter((r, i) => {
      try {
        assertEquals(r.typed, { type: vars[i]!.type, value: vars[i]!.value });
        return r.status !== Status.Good;
      } catch {
        return true;
      }
    });
    assertEquals(bad.length, 0);
  } finally {
    await client.close();
    await stopHop(hop);
    await plc.proc.stop();
  }
  assert(!hop.output().includes("secret"), "the PLC password never appears in logs");
  assert(plc.proc.output().includes("PLC session with UserNameIdentityToken"), plc.proc.output());
});

Deno.test("an unknown PLC certificate is refused and kept in rejected/, and trusted once moved to trusted/certs; ids follow browse paths", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "plant1");
  const plc = await startPlc({ count: 5, pki: join(dir.path, "plc") });
  const hop = startHop([
    "--name",
    "plant1",
    "--opcua",
    `plc=${plc.url}`,
    "--opcua-browse",
    "i=85",
    "--opcua-include",
    "Plant/Line0/V1_*,Plant/Line0/V2_*",
    "--opcua-nodes",
    "ns=1;s=Plant/Counter",
    "--data-dir",
    data,
    "--status-interval",
    "0",
    "--log-level",
    "debug",
  ], dir.path);
  try {
    const line = await expectLine(hop, /certificate is not trusted.*move it to .*trusted\/certs/);
    assert(!/Connected to/.test(hop.output()), "nothing is read from an untrusted PLC");
    const rejected = join(data, "opcua-pki", "rejected");
    const files = [...Deno.readDirSync(rejected)].map((e) => e.name).filter((n) =>
      n.endsWith(".pem") || n.endsWith(".der")
    );
    assertEquals(files.length, 1, line);
    await Deno.rename(
      join(rejected, files[0]!),
      join(data, "opcua-pki", "trusted", "certs", files[0]!),
    );
    await expectLine(hop, /Connected to opcua:plc .* 3 variables, 3 monitored/, 30_000);
    // Point ids come from browse paths, for browsed and for explicitly named nodes alike.
    const ids = hop.lines.flatMap((l) => /Point (\S+) reads/.exec(l)?.[1] ?? []);
    assertEquals([...new Set(ids)].sort(), [
      "plant1/plc/Plant/Counter",
      "plant1/plc/Plant/Line0/V1_Int32",
      "plant1/plc/Plant/Line0/V2_Int64",
    ]);
  } finally {
    await stopHop(hop);
    await plc.proc.stop();
  }
});

Deno.test("a hop logs in to a PLC with an X.509 user certificate over Sign with Aes128_Sha256_RsaOaep", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "plant1");
  // The user's certificate and key, made like an operator's with any CA tool.
  const userPki = join(dir.path, "user");
  const maker = new OPCUACertificateManager({ rootFolder: userPki, disableFileWatchers: true });
  await maker.initialize();
  const userCert = join(userPki, "user.pem");
  await maker.createSelfSignedCertificate({
    applicationUri: "urn:hopgate-test:user",
    subject: "/CN=plant-operator",
    dns: [],
    startDate: new Date(Date.now() - 86_400_000),
    validity: 30,
    outputFile: userCert,
  });
  await maker.dispose();
  const plc = await startPlc({ count: 3, pki: join(dir.path, "plc") });
  const hop = startPlantHop(plc, dir.path, data, [
    "--opcua-security",
    "Sign:Aes128_Sha256_RsaOaep",
    "--opcua-user-cert",
    userCert,
    "--opcua-user-key",
    join(userPki, "own/private/private_key.pem"),
  ]);
  try {
    await expectLine(
      hop,
      /Connected to opcua:plc .*Sign:Aes128_Sha256_RsaOaep.* 5 variables, 5 monitored/,
    );
    await expectLine(plc.proc, /PLC session with X509IdentityToken/, 5_000);
  } finally {
    await stopHop(hop);
    await plc.proc.stop();
  }
});

Deno.test("items a subscription refuses beyond its limit move to the next one (--opcua-max-items above the PLC's cap)", async () => {
  await using dir = await tempDir();
  const plc = await startPlc({ count: 250, maxItems: 100, pki: join(dir.path, "plc") });
  const hop = startPlantHop(plc, dir.path, join(dir.path, "plant1"), ["--opcua-max-items", "150"]);
  try {
    // 150 asked per subscription, 100 accepted: the 50 refused go first into the next one.
    await expectLine(
      hop,
      /Connected to opcua:plc .* 252 variables, 252 monitored in 3 subscriptions/,
    );
  } finally {
    await stopHop(hop);
    await plc.proc.stop();
  }
});

Deno.test("a PLC that freezes without closing the connection is noticed by its missing keep-alives, and read again when it thaws", async () => {
  await using dir = await tempDir();
  const plc = await startPlc({ count: 5, pki: join(dir.path, "plc") });
  const hop = startPlantHop(plc, dir.path, join(dir.path, "plant1"), [
    "--opcua-publishing",
    "200ms",
  ]);
  try {
    await expectLine(hop, /Connected to opcua:plc .* 7 variables, 7 monitored/);
    plc.proc.child.kill("SIGSTOP");
    const line = await expectLine(
      hop,
      /no keep-alive from the PLC for \d+ ms; 8 points marked/,
      20_000,
    );
    assert(/lost or unreachable/.test(line), line);
    plc.proc.child.kill("SIGCONT");
    await waitFor(
      "a second connection",
      () => hop.lines.filter((l) => /Connected to opcua:plc/.test(l)).length >= 2,
      60_000,
    );
  } finally {
    plc.proc.child.kill("SIGCONT");
    await stopHop(hop);
    await plc.proc.stop();
  }
});
