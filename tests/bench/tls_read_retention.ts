/**
 * What the runtime's `node:tls` keeps after it received a burst: a receiver
 * process takes N MiB written at once over one mutually authenticated TLS
 * connection, and reports its anonymous memory (RssAnon) before the
 * connection and once it closed and two full collections ran. No hop code is
 * involved: a relay that took a 100,000-point snapshot kept 64 KiB blocks of
 * TLS records after its links closed (docs/benchmarks.md, "Memory per
 * point"); this shows whether a Deno release still does it.
 *
 *     deno run -A tests/bench/tls_read_retention.ts [MiB …]   (default 1 6 24)
 *
 * Prints one line per size; never fails for what it measures.
 */
import { join } from "node:path";
import * as tls from "node:tls";
import { certsOf } from "../kit/peer.ts";
import { chainCerts } from "../kit/hops.ts";
import { freePort, Proc, tempDir } from "../kit/helpers.ts";

/** This process's anonymous memory, MiB. */
function anonMib(): number {
  const kb = /RssAnon:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"))?.[1];
  return Math.round(Number(kb) / 1024 * 10) / 10;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** The receiving side, run as its own process: listens, reads all, reports, exits. */
async function receive(dir: string, port: number): Promise<void> {
  const { cert, key, ca } = await certsOf(dir, "receiver");
  const before = anonMib();
  const done = Promise.withResolvers<number>();
  const server = tls.createServer(
    { cert, key, ca, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.3" },
    (s) => {
      let bytes = 0;
      s.on("data", (d: Uint8Array) => bytes += d.length);
      s.on("error", () => {});
      s.on("close", () => done.resolve(bytes));
    },
  );
  server.listen(port, "127.0.0.1", () => console.log("listening"));
  const bytes = await done.promise;
  server.close();
  gc?.();
  await new Promise((r) => setTimeout(r, 2000));
  gc?.();
  console.log(JSON.stringify({ bytes, before, after: anonMib() }));
}

/** Sends `mib` MiB at once to a fresh receiver process and returns what it reported. */
async function measure(dir: string, mib: number): Promise<string> {
  const port = freePort();
  const receiver = new Proc([
    "run",
    "-A",
    "--v8-flags=--expose-gc",
    new URL(import.meta.url).pathname,
    "--receive",
    dir,
    String(port),
  ]);
  try {
    await receiver.waitForLine(/^listening$/, 20_000);
    const { cert, key, ca } = await certsOf(dir, "sender");
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      cert,
      key,
      ca,
      servername: "receiver",
      minVersion: "TLSv1.3",
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", () => resolve());
      socket.once("error", reject);
    });
    const chunk = new Uint8Array(64 * 1024).fill(7);
    for (let i = Math.round(mib * 16); i > 0; i--) socket.write(chunk);
    await new Promise<void>((resolve) => socket.end(() => resolve()));
    const report = await receiver.waitForLine(/^\{"bytes"/, 120_000);
    socket.destroy();
    const { bytes, before, after } = JSON.parse(report) as Record<string, number>;
    return `${mib} MiB at once: the receiver got ${bytes!.toLocaleString("en")} bytes; ` +
      `anonymous memory ${before} MiB before, ${after} MiB after the connection closed and two ` +
      `collections (+${Math.round((after! - before!) * 10) / 10} MiB kept)`;
  } catch (e) {
    throw new Error(`${mib} MiB: ${(e as Error).message}\n${receiver.output().slice(-2000)}`);
  } finally {
    await receiver.stop();
  }
}

if (Deno.args[0] === "--receive") {
  await receive(Deno.args[1]!, Number(Deno.args[2]));
} else {
  // Sizes are checked before anything is set up; each is sent in whole 64 KiB chunks.
  const bad = Deno.args.find((a) => !(Number(a) * 16 >= 1 && Number(a) <= 1024));
  if (bad !== undefined) {
    console.error(`"${bad}" is not a size in MiB: give sizes from 0.0625 to 1024, e.g. 1 6 24`);
    Deno.exit(2);
  }
  const sizes = Deno.args.length > 0 ? Deno.args.map(Number) : [1, 6, 24];
  await using tmp = await tempDir("hopgate-tls-retention-");
  const dir = join(tmp.path, "certs");
  await chainCerts(dir, ["receiver", "sender"]);
  console.log(`Deno ${Deno.version.deno}, node:tls, one connection per size`);
  for (const mib of sizes) console.log(await measure(dir, mib));
}
