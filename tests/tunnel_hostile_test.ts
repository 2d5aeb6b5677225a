/** The listener faces a less trusted zone: everything that is not a listed peer is refused, alone. */
import { ok as assert } from "node:assert";
import { join } from "node:path";
import * as tls from "node:tls";
import { initCa, issueHopCert, severity } from "../core/mod.ts";
import { helloFrame } from "../tunnel/control_frames.ts";
import { protocolVersion } from "../tunnel/frames.ts";
import {
  chainCerts,
  localHop,
  pointsOf,
  startDmz,
  startHop,
  stopAll,
  waitForPoints,
} from "./kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "./kit/helpers.ts";

/** A hop's certificate files in `<dir>/<hop>/certs`, as PEM text. */
async function certsOf(dir: string, hop: string) {
  const certs = join(dir, hop, "certs");
  return {
    cert: await Deno.readTextFile(join(certs, `${hop}.crt`)),
    key: await Deno.readTextFile(join(certs, `${hop}.key`)),
    ca: await Deno.readTextFile(join(certs, "ca.crt")),
  };
}

/**
 * Connects with a client certificate, sends `payload` once TLS is up, and
 * resolves with how long the listener took to close the connection.
 */
function tlsClient(
  port: number,
  creds: { cert: string; key: string; ca: string },
  payload: Uint8Array[],
): Promise<{ ms: number; received: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      ...creds,
      rejectUnauthorized: false,
      minVersion: "TLSv1.3",
    });
    let received = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("the listener kept a connection it should have refused"));
    }, 5000);
    socket.on("secureConnect", () => {
      for (const p of payload) socket.write(p);
    });
    socket.on("data", (d: Uint8Array) => received += d.length);
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ ms: performance.now() - t0, received });
    });
  });
}

/** Connects without TLS, sends `text` (if any), and resolves with how long until the close. */
async function plainClient(port: number, text: string | null): Promise<number> {
  const t0 = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    if (text !== null) await conn.write(new TextEncoder().encode(text));
    const buf = new Uint8Array(4096);
    const deadline = setTimeout(() => conn.close(), 5000);
    try {
      while (await conn.read(buf) !== null) { /* the server's alert, if any */ }
    } catch { /* reset */ }
    clearTimeout(deadline);
    return performance.now() - t0;
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

Deno.test("the listener refuses a wrong CA, an unlisted name, plaintext, garbage, oversize frames, slow and half-open peers and too many links, a dialer refuses a listener with the wrong name, and the chain keeps flowing", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["plant1", "dmz", "ops", "it2", "it3", "mallory"]);
  await initCa(join(dir.path, "ca2"));
  await issueHopCert("plant1", { caDir: join(dir.path, "ca2"), outDir: join(dir.path, "evil") });
  const p1 = freePort();
  let dmz: Proc | null = null, plant: Proc | null = null;
  const fast = ["--heartbeat", "200ms", "--link-timeout", "1s"];
  try {
    dmz = await startDmz(dir.path, p1, "plant1:push,ops:pull,it2:push,it3:push", [
      "--max-links",
      "3",
      "--max-frame",
      "64KB",
      "--max-value",
      "32KB",
      "--handshake-timeout",
      "1s",
      ...fast,
    ]);
    plant = await startHop(dir.path, "plant1", [
      "--sim",
      "20",
      "--sim-rate",
      "100",
      "--push",
      `dmz=127.0.0.1:${p1}`,
      ...fast,
    ]);
    await using ops = await localHop(dir.path, "ops", ["--pull", `dmz=127.0.0.1:${p1}`, ...fast]);
    await waitForPoints(ops.hop, "plant1/sim/", 20, "good");
    const log = dmz;
    const logged = (re: RegExp) => log.waitForLine(re, 5000);
    const rss = () =>
      Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${log.child.pid}/status`))?.[1]) /
      1024;
    const rssBefore = rss();

    // A certificate named like a peer but issued by another CA.
    const evil = {
      cert: await Deno.readTextFile(join(dir.path, "evil", "plant1.crt")),
      key: await Deno.readTextFile(join(dir.path, "evil", "plant1.key")),
      ca: await Deno.readTextFile(join(dir.path, "ca", "ca.crt")),
    };
    const wrongCa = await tlsClient(p1, evil, [helloFrame(hello("plant1"))]);
    assert(wrongCa.received === 0, "nothing may be sent to an unauthenticated client");
    await logged(
      /Refused a connection from 127\.0\.0\.1: TLS handshake failed: the client's certificate was refused/,
    );

    // The chain's CA, but a name not in --peers.
    const stranger = await tlsClient(p1, await certsOf(dir.path, "mallory"), [
      helloFrame(hello("mallory")),
    ]);
    assert(stranger.received === 0);
    await logged(/Refused a link .*mallory, which is not in --peers/);

    // Plaintext, and a silent TCP connection that never starts its handshake (slow loris).
    const plainMs = await plainClient(p1, "GET / HTTP/1.1\r\nHost: dmz\r\n\r\n");
    assert(plainMs < 3000, `plaintext client kept ${plainMs} ms`);
    const lorisMs = await plainClient(p1, null);
    console.log(
      `slow-loris connection closed after ${lorisMs.toFixed(0)} ms (handshake timeout 1000)`,
    );
    assert(lorisMs > 500 && lorisMs < 3000, `${lorisMs} ms`);
    await logged(/Refused a connection from 127\.0\.0\.1: no TLS handshake within 1000 ms/);
    // The plaintext client failed its handshake like the wrong CA did: counted for the summary, not logged.
    const handshakeLines = log.lines.filter((l) => /TLS handshake failed/.test(l));
    assert(handshakeLines.length === 1, handshakeLines.join("\n"));

    // Authenticated peers sending garbage, or a frame claiming 2 GB.
    const it2 = await certsOf(dir.path, "it2");
    const garbage = new Uint8Array(200).map((_, i) => (i * 7919) & 0xff);
    garbage.set([0, 0, 0, 100, 3]);
    await tlsClient(p1, it2, [garbage]);
    await logged(/Link with it2 ended: protocol error/);
    await tlsClient(p1, it2, [new Uint8Array([0x7f, 0xff, 0xff, 0xff, 3, 1, 2, 3])]);
    await logged(/exceeds --max-frame/);

    // A peer that says hello and then goes silent (half-open) is dropped by the heartbeat timeout;
    // while it is held, a fourth link exceeds --max-links 3.
    const halfOpen = tlsClient(p1, it2, [helloFrame(hello("it2"))]);
    await logged(/Link with it2 open/);
    const extra = await tlsClient(p1, await certsOf(dir.path, "it3"), [helloFrame(hello("it3"))]);
    assert(extra.received === 0);
    await logged(/it3 would exceed --max-links \(3\)/);
    const silent = await halfOpen;
    console.log(`half-open peer dropped after ${silent.ms.toFixed(0)} ms (link timeout 1000)`);
    await logged(/Link with it2 lost \(heartbeat timeout/);

    // A dialer that reaches a listener whose certificate names another hop than it dialled
    // ("it" instead of dmz) refuses it and receives nothing.
    {
      await using confused = await localHop(dir.path, "it3", ["--pull", `it=127.0.0.1:${p1}`]);
      const status = await waitFor("the dialer to refuse the listener", () => {
        const s = confused.hop.statuses().find((x) => x.name === "link:it");
        return s?.lastError?.includes('not hop "it"') ? s : undefined;
      });
      assert(status.connection !== "connected");
      assert(pointsOf(confused.hop.store.values(), "plant1/").length === 0);
    }

    const rssAfter = rss();
    console.log(`dmz RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MiB across the attacks`);
    assert(rssAfter - rssBefore < 64, "refused connections must not pile up");

    // Through all of it the plant's link stayed up and data kept flowing to ops.
    assert(!log.lines.some((l) => /Link with plant1 lost/.test(l)), log.output());
    const probe = "plant1/sim/double/0";
    const before = ops.hop.store.get(probe)!.time;
    await waitFor("data to keep flowing", () => ops.hop.store.get(probe)!.time > before);
    const ps = pointsOf(ops.hop.store.values(), "plant1/sim/");
    assert(ps.every((p) => severity(p.status) === "good" && p.cause === null));
  } finally {
    await stopAll(plant, dmz);
  }
  // Stopping ends the refusal log's interval: its summary counts the refusals not logged.
  assert(
    dmz.lines.some((l) =>
      /Refused \d+ more connections in the last \d+ s \(.*TLS handshake failed.*\) from 127\.0\.0\.1/
        .test(l)
    ),
    dmz.output(),
  );
});

function hello(hop: string) {
  return { version: protocolVersion, hop, to: "dmz", direction: "push" as const };
}
