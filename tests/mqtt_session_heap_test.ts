import { ok as assert } from "node:assert";
import { runDeno, tempDir } from "./kit/helpers.ts";
import { MosquittoProcess } from "./kit/mosquitto.ts";

const script = new URL("./fixtures/mqtt_session_heap.ts", import.meta.url).pathname;

Deno.test("an MQTT session does not fill mqtt.js's 7 MB table of number buffers", async () => {
  await using dir = await tempDir();
  await using broker = await MosquittoProcess.start({ name: "heap", dir: dir.path });
  const out = await runDeno([
    "run",
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-env",
    "--v8-flags=--expose-gc",
    script,
    String(broker.port),
  ]);
  assert(out.code === 0, out.stderr);
  const { addedMb } = JSON.parse(out.stdout) as { addedMb: number };
  // With the table: 7.4 MB more; without it, the session and mqtt.js's first packets.
  assert(addedMb < 3, `an MQTT session added ${addedMb.toFixed(1)} MB of heap`);
});
