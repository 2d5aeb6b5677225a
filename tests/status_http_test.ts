/** The status endpoint: a read-only HTTP server per hop, run under the hop's derived permissions. */
import "../adapters/all.ts";
import assert, { deepStrictEqual as assertEquals } from "node:assert";
import { join } from "node:path";
import * as tls from "node:tls";
import { derivePermissions, renewHopCert } from "../core/mod.ts";
import { exposition } from "../adapters/status/mod.ts";
import type { StatusInfo } from "../adapters/status/status_info.ts";
import { chainCerts, LinkProxy, startDmz, startHop, stopAll } from "./kit/hops.ts";
import { protocolVersion } from "../tunnel/frames.ts";
import { flagsConfig, freePort, type Proc, runHopgate, tempDir, waitFor } from "./kit/helpers.ts";
import { parseExposition, sumOf } from "./kit/prometheus.ts";

const fast = ["--heartbeat", "200ms", "--link-timeout", "1s"];

/** A sample line of the text exposition format 0.0.4: `name{label="value",…} value`. */
const sampleLine =
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*")*\})? (?:[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|[+-]Inf)$/;

/**
 * The samples of a metrics text, keyed `name{labels}`, as an npm parser of
 * the format reads them; throws on a line outside the grammar, or a counter
 * not named `_total`.
 */
function parseMetrics(text: string): Map<string, number> {
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    assert(sampleLine.test(line), `not an exposition line: ${JSON.stringify(line)}`);
  }
  const { samples, types } = parseExposition(text);
  for (const [name, type] of types) {
    assert(type !== "COUNTER" || name.endsWith("_total"), `counter ${name} without _total`);
  }
  return samples;
}

/** A certificate's expiry sample: its labels and the expiry, Unix seconds. */
interface CertSample {
  name?: string;
  option: string;
  subject: string;
  serial: string;
  expires: number;
}

/** The samples of `hopgate_certificate_expiry_timestamp_seconds` of a parsed scrape. */
function certSamples(samples: Map<string, number>): CertSample[] {
  const out: CertSample[] = [];
  for (const [key, value] of samples) {
    const m = /^hopgate_certificate_expiry_timestamp_seconds\{(.*)\}$/.exec(key);
    if (!m) continue;
    const labels = Object.fromEntries(
      [...m[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]),
    );
    out.push({ ...labels, expires: value } as unknown as CertSample);
  }
  return out;
}

async function get(url: string, init?: RequestInit): Promise<{ status: number; body: string }> {
  const r = await fetch(url, init);
  return { status: r.status, body: await r.text() };
}

Deno.test("the status endpoint serves health, readiness and metrics, read-only", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["plant1", "dmz"]);
  const port = freePort(), http = freePort();
  const base = `http://127.0.0.1:${http}`;
  let dmz: Proc | null = null, plant: Proc | null = null;
  try {
    dmz = await startDmz(dir.path, port, "plant1:push", [
      "--sim",
      "25",
      "--sim-rate",
      "5",
      "--status-http",
      `127.0.0.1:${http}`,
      ...fast,
    ]);
    await dmz.waitForLine(/Status endpoint on http:\/\/127\.0\.0\.1:\d+\//);
    assertEquals(await get(`${base}/healthz`), { status: 200, body: "ok\n" });
    // The link waits for its peer: not ready, naming it.
    const notReady = await get(`${base}/readyz`);
    assertEquals(notReady.status, 503, notReady.body);
    assert(/^link:plant1 running\/down: /m.test(notReady.body), notReady.body);
    assert(!notReady.body.includes("status-http"), notReady.body);
    // The simulator's 25 points, the three health points of the link to plant1 and the
    // expiry points of the hop's certificate and CA.
    const before = parseMetrics((await get(`${base}/metrics`)).body);
    assertEquals(sumOf(before, "hopgate_points"), 25 + 3 + 2);
    assertEquals(sumOf(before, "hopgate_points", { origin: "dmz" }), 25 + 3 + 2);
    assertEquals(before.get('hopgate_link_up{peer="plant1"}'), 0);
    assertEquals(before.get('hopgate_adapter_up{adapter="link:plant1",kind="link"}'), 0);

    plant = await startHop(dir.path, "plant1", [
      "--sim",
      "40",
      "--sim-rate",
      "5",
      "--push",
      `dmz=127.0.0.1:${port}`,
      ...fast,
    ]);
    await waitFor("the dmz to be ready", async () => {
      const r = await get(`${base}/readyz`);
      return r.status === 200 ? r : undefined;
    });
    assertEquals(await get(`${base}/readyz`), { status: 200, body: "ready\n" });
    // Its own 25, the plant's 40, the health points of both hops' links and both hops'
    // certificate expiry points, all good.
    const after = await waitFor("every point good", async () => {
      const m = parseMetrics((await get(`${base}/metrics`)).body);
      return sumOf(m, "hopgate_points", { status_class: "good" }) === 25 + 40 + 6 + 4
        ? m
        : undefined;
    });
    assertEquals(after.get('hopgate_points{origin="plant1",status_class="good"}'), 40 + 3 + 2);
    assertEquals(sumOf(after, "hopgate_points", { status_class: "uncertain" }), 0);
    assertEquals(sumOf(after, "hopgate_points", { status_class: "bad" }), 0);
    assertEquals(after.get('hopgate_link_up{peer="plant1"}'), 1);
    const rtt = after.get('hopgate_link_rtt_seconds{peer="plant1"}')!;
    assert(rtt >= 0 && rtt < 1, String(rtt));
    assertEquals(after.get(`hopgate_build_info{version="0.1.0",protocol="${protocolVersion}"}`), 1);
    assert(after.get("hopgate_updates_applied_total")! >= 65);
    assert(after.get("process_resident_memory_bytes")! > 0);
    assert(after.get("process_heap_used_bytes")! > 0);
    const head = await fetch(`${base}/metrics`, { method: "HEAD" });
    assertEquals(head.status, 200);
    assertEquals(await head.text(), "");
    assert(head.headers.get("content-type")?.startsWith("text/plain; version=0.0.4"));

    // Nothing on it changes the hop.
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const r = await fetch(`${base}/metrics`, { method, body: "x" });
      await r.body?.cancel();
      assertEquals(r.status, 405, method);
      assertEquals(r.headers.get("allow"), "GET, HEAD");
    }
    assertEquals((await get(`${base}/write`, { method: "POST", body: "x" })).status, 404);
    assertEquals((await get(`${base}/nothing`)).status, 404);
    // The status page and its files come from the hop alone, under a strict policy.
    for (const path of ["/", "/status.js", "/status.css"]) {
      const r = await fetch(`${base}${path}`);
      await r.body?.cancel();
      assertEquals(r.status, 200, path);
      assertEquals(
        r.headers.get("content-security-policy"),
        "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      );
    }
  } finally {
    await stopAll(plant, dmz);
  }
});

Deno.test("metrics follow a link going down and up, with its traffic, points and certificates", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["plant1", "dmz"]);
  const port = freePort(), http = freePort();
  const base = `http://127.0.0.1:${http}`;
  await using proxy = new LinkProxy(port);
  let dmz: Proc | null = null, plant: Proc | null = null;
  const scrape = async () => parseMetrics((await get(`${base}/metrics`)).body);
  const link = '{peer="plant1",side="upstream"}';
  try {
    dmz = await startDmz(dir.path, port, "plant1:push", [
      "--status-http",
      `127.0.0.1:${http}`,
      ...fast,
    ]);
    plant = await startHop(dir.path, "plant1", [
      "--sim",
      "40",
      "--sim-rate",
      "20",
      "--push",
      `dmz=127.0.0.1:${proxy.port}`,
      ...fast,
    ]);
    // The first round trip is measured a heartbeat after the link opens: on a busy machine after
    // the points have arrived.
    const up = await waitFor("the link up with all its points and a round trip", async () => {
      const m = await scrape();
      return m.get('hopgate_link_up{peer="plant1"}') === 1 &&
          m.get(`hopgate_link_received_points_total${link}`)! >= 43 &&
          m.get('hopgate_link_rtt_seconds{peer="plant1"}') !== undefined
        ? m
        : undefined;
    });
    assertEquals(up.get('hopgate_adapter_up{adapter="link:plant1",kind="link"}'), 1);
    assert(up.get(`hopgate_link_received_bytes_total${link}`)! > 1000);
    assert(up.get(`hopgate_link_received_frames_total${link}`)! >= 3);
    // Acknowledgements and heartbeats go back to the plant; no points do.
    assert(up.get(`hopgate_link_sent_bytes_total${link}`)! > 0);
    assertEquals(up.get(`hopgate_link_sent_points_total${link}`), 0);
    assertEquals(
      up.get('hopgate_adapter_updates_applied_total{adapter="link:plant1",kind="link"}'),
      up.get(`hopgate_link_received_points_total${link}`),
    );
    const rtt = up.get('hopgate_link_rtt_seconds{peer="plant1"}')!;
    assert(rtt >= 0 && rtt < 1, String(rtt));
    const own = certSamples(up).filter((c) => c.option === "tls-cert");
    assertEquals(own.map((c) => [c.name, c.subject]), [["tls", "CN=dmz"]]);
    assert(/^[0-9A-F]+$/.test(own[0]!.serial), own[0]!.serial);
    assert(own[0]!.expires > Date.now() / 1000 + 300 * 86400, String(own[0]!.expires));
    const ca = certSamples(up).filter((c) => c.option === "tls-ca");
    assertEquals(ca.map((c) => c.name), ["ca"]);
    assert(up.get("hopgate_event_loop_delay_max_seconds")! >= 0);
    assert(up.get("process_heap_total_bytes")! > 0);

    proxy.cut();
    const down = await waitFor("the link down in the metrics", async () => {
      const m = await scrape();
      return m.get('hopgate_link_up{peer="plant1"}') === 0 ? m : undefined;
    }, 5_000);
    assertEquals(down.get('hopgate_adapter_up{adapter="link:plant1",kind="link"}'), 0);
    assertEquals(down.get('hopgate_points{origin="plant1",status_class="good"}'), 0);
    assertEquals(
      sumOf(down, "hopgate_points", { origin: "plant1", status_class: "uncertain" }) +
        sumOf(down, "hopgate_points", { origin: "plant1", status_class: "bad" }),
      40 + 3 + 2,
    );
    assert(!down.has('hopgate_link_rtt_seconds{peer="plant1"}'));

    proxy.restore();
    const again = await waitFor("the link up again, carrying points", async () => {
      const m = await scrape();
      return m.get('hopgate_link_up{peer="plant1"}') === 1 &&
          m.get('hopgate_points{origin="plant1",status_class="good"}') === 45 &&
          m.get(`hopgate_link_received_points_total${link}`)! >
            down.get(`hopgate_link_received_points_total${link}`)!
        ? m
        : undefined;
    }, 15_000);
    assert(
      again.get(`hopgate_link_received_bytes_total${link}`)! >
        down.get(`hopgate_link_received_bytes_total${link}`)!,
    );
  } finally {
    await stopAll(plant, dmz);
  }
});

/** The `info` events of the status page's live feed, as they arrive. */
function infoEvents(
  body: ReadableStream<Uint8Array>,
): { infos: StatusInfo[]; done: Promise<void> } {
  const infos: StatusInfo[] = [];
  const done = (async () => {
    let text = "";
    for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      let end: number;
      while ((end = text.indexOf("\n\n")) >= 0) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const m = /^event: info\ndata: (.*)$/s.exec(block);
        if (m) infos.push(JSON.parse(m[1]!));
      }
    }
  })().catch(() => {});
  return { infos, done };
}

Deno.test("after hopgate certs renew, metrics and the status page show the new certificate without a restart", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["dmz"]);
  const port = freePort(), http = freePort();
  const base = `http://127.0.0.1:${http}`;
  let dmz: Proc | null = null;
  const feed = new AbortController();
  try {
    dmz = await startDmz(dir.path, port, "plant1:push", [
      "--status-http",
      `127.0.0.1:${http}`,
      "--cert-check",
      "200ms",
      ...fast,
    ]);
    await dmz.waitForLine(/Status endpoint on http:\/\/127\.0\.0\.1:\d+\//);
    const scrape = async () => certSamples(parseMetrics((await get(`${base}/metrics`)).body));
    const own = (samples: CertSample[]) => samples.filter((c) => c.option === "tls-cert");
    const before = own(await scrape());
    assertEquals(before.map((c) => [c.name, c.subject]), [["tls", "CN=dmz"]]);
    const serial0 = before[0]!.serial;
    // An open status page: its info names the certificate in use.
    const events = await fetch(`${base}/events`, { signal: feed.signal });
    const page = infoEvents(events.body!);
    const first = await waitFor("the page's info", () => page.infos[0]);
    assertEquals(
      first.certificates.filter((c) => c.option === "tls-cert").map((c) => [c.name, c.serial]),
      [["tls", serial0]],
    );

    const r = await runHopgate([
      "certs",
      "renew",
      "dmz",
      "--ca-dir",
      join(dir.path, "ca"),
      "--out",
      join(dir.path, "dmz", "certs"),
      "--days",
      "30",
    ]);
    assertEquals(r.code, 0, r.stderr);
    const m = /serial (\w+), valid until (\S+)\n$/.exec(r.stdout);
    assert(m, r.stdout);
    const [serial1, notAfter1] = [m[1]!, new Date(m[2]!).getTime() / 1000];
    assert(serial1 !== serial0);

    // The same process, reloaded: the next scrape shows only the new certificate.
    await dmz.waitForLine(new RegExp(`Reloaded --tls-cert .*serial ${serial1}`), 15_000);
    const after = await waitFor("the renewed certificate in the metrics", async () => {
      const c = own(await scrape());
      return c.length === 1 && c[0]!.serial === serial1 ? c : undefined;
    }, 15_000);
    assertEquals(after[0]!.expires, notAfter1);
    assertEquals([after[0]!.name, after[0]!.subject], ["tls", "CN=dmz"]);
    assert(before[0]!.expires > notAfter1 + 300 * 86400, "the first certificate ran longer");
    // The open page is sent the new certificate too.
    const renewed = await waitFor(
      "the page's info again",
      () =>
        page.infos.find((i) =>
          i.certificates.some((c) => c.option === "tls-cert" && c.serial === serial1)
        ),
      15_000,
    );
    assertEquals(
      renewed.certificates.filter((c) => c.option === "tls-cert").map((c) => c.notAfter / 1000),
      [notAfter1],
    );
    assertEquals(dmz.lines.filter((l) => /Hop \S+ starting/.test(l)).length, 1);
    feed.abort();
    await page.done;
  } finally {
    feed.abort();
    await stopAll(dmz);
  }
});

Deno.test("a non-loopback status endpoint is HTTPS with client certificates unless --status-http-public", async () => {
  await using dir = await tempDir();
  await chainCerts(dir.path, ["p"]);
  const hop = ["run", "--name", "p", "--sim", "5", "--data-dir"];
  const certs = join(dir.path, "p", "certs");
  const flags = [
    ...hop,
    join(dir.path, "data"),
    ...["--tls-cert", join(certs, "p.crt"), "--tls-key", join(certs, "p.key")],
    ...["--tls-ca", join(certs, "ca.crt")],
  ];
  // Without the hop's certificate there is no HTTPS to serve.
  const r = await runHopgate([...hop, join(dir.path, "none"), "--status-http", "0.0.0.0:9464"]);
  assertEquals(r.code, 2, r.stderr);
  assert(/tls-cert/.test(r.stderr) && r.stderr.includes("hopgate certs issue p"), r.stderr);
  const both = await runHopgate([
    ...flags,
    "--status-http",
    "0.0.0.0:9464",
    "--status-http-tls",
    "--status-http-public",
  ]);
  assertEquals(both.code, 2, both.stderr);
  assert(both.stderr.includes("are alternatives"), both.stderr);
  // HTTPS reads the hop's certificate files; plain HTTP on purpose reads none.
  const tls = flagsConfig(dir.path, [...flags.slice(1), "--status-http", "0.0.0.0:9464"]);
  assertEquals(derivePermissions(tls.config).net, ["0.0.0.0:9464"]);
  assert(derivePermissions(tls.config).read.includes(join(certs, "p.key")));
  const { config } = flagsConfig(dir.path, [
    ...flags.slice(1),
    "--status-http",
    "0.0.0.0:9464",
    "--status-http-public",
  ]);
  assertEquals(derivePermissions(config).net, ["0.0.0.0:9464"]);
  assert(!derivePermissions(config).read.includes(join(certs, "p.key")));
  const local = flagsConfig(dir.path, [...flags.slice(1), "--status-http", "127.0.0.1:9464"]);
  assertEquals(derivePermissions(local.config).net, ["127.0.0.1:9464"]);
});

/** A client's TLS files: certificate, key and the CA it trusts. */
interface ClientTls {
  cert?: string;
  key?: string;
  ca: string;
}

/**
 * `GET path` over TLS to 127.0.0.1:`port` (the hop's certificate names the
 * hop, not the address), until `until` matches what arrived or the server
 * closes; rejects when the handshake or the connection fails.
 */
function httpsGet(port: number, path: string, client: ClientTls, until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: "dmz",
      ca: client.ca,
      ...(client.cert ? { cert: client.cert, key: client.key } : {}),
      minVersion: "TLSv1.3",
    }, () => socket.write(`GET ${path} HTTP/1.1\r\nHost: dmz\r\nConnection: close\r\n\r\n`));
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      text += chunk;
      if (until?.test(text)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on("error", reject);
    socket.on(
      "close",
      () => (text ? resolve(text) : reject(new Error("closed without an answer"))),
    );
  });
}

Deno.test("the HTTPS status endpoint answers only clients with a certificate from the chain's CA", async () => {
  await using dir = await tempDir();
  await using other = await tempDir();
  await chainCerts(dir.path, ["dmz", "ops"]);
  await chainCerts(other.path, ["ops"]);
  const http = freePort();
  const read = (p: string) => Deno.readTextFile(p);
  const ca = await read(`${dir.path}/ca/ca.crt`);
  const ops = {
    ca,
    cert: await read(`${dir.path}/ops/certs/ops.crt`),
    key: await read(`${dir.path}/ops/certs/ops.key`),
  };
  let dmz: Proc | null = null;
  try {
    dmz = await startDmz(dir.path, freePort(), "plant1:push", [
      "--status-http",
      `127.0.0.1:${http}`,
      "--status-http-tls",
    ]);
    await dmz.waitForLine(/Status endpoint on https:\/\/127\.0\.0\.1:\d+\/.*certificate/);
    const ok = await httpsGet(http, "/healthz", ops);
    assert(/^HTTP\/1\.1 200/.test(ok) && ok.includes("\r\nok\n"), ok);
    const metrics = await httpsGet(http, "/metrics", ops);
    assert(metrics.includes("hopgate_build_info{"), metrics.slice(0, 300));
    // The page's live feed streams over HTTPS too.
    const feed = await httpsGet(http, "/events", ops, /event: view\ndata: \{/);
    assert(/content-type: text\/event-stream/i.test(feed), feed.slice(0, 300));
    // No certificate, or one from another CA: no answer.
    await assert.rejects(httpsGet(http, "/healthz", { ca }));
    await assert.rejects(httpsGet(http, "/healthz", {
      ca,
      cert: await read(`${other.path}/ops/certs/ops.crt`),
      key: await read(`${other.path}/ops/certs/ops.key`),
    }));
  } finally {
    await stopAll(dmz);
  }
});

/** The serial number of the certificate the endpoint on 127.0.0.1:`port` serves `client`. */
function servedSerial(port: number, client: ClientTls): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: "dmz",
      ...client,
      minVersion: "TLSv1.3",
    }, () => {
      resolve(socket.getPeerCertificate().serialNumber.toUpperCase());
      socket.destroy();
    });
    socket.on("error", reject);
  });
}

const renewalCases: [string, () => string[]][] = [
  ["a relay", () => ["--listen", `127.0.0.1:${freePort()}`, "--peers", "plant1:push"]],
  ["a hop without links", () => ["--sim", "5"]],
];
for (const [what, flags] of renewalCases) {
  Deno.test(`the HTTPS status endpoint of ${what} serves a renewed certificate to its next clients, without a restart`, async () => {
    await using dir = await tempDir();
    await chainCerts(dir.path, ["dmz", "ops"]);
    const http = freePort();
    const read = (p: string) => Deno.readTextFile(p);
    const ops = {
      ca: await read(`${dir.path}/ca/ca.crt`),
      cert: await read(`${dir.path}/ops/certs/ops.crt`),
      key: await read(`${dir.path}/ops/certs/ops.key`),
    };
    let dmz: Proc | null = null;
    try {
      dmz = await startHop(dir.path, "dmz", [
        ...flags(),
        "--status-http",
        `127.0.0.1:${http}`,
        "--status-http-tls",
      ]);
      await dmz.waitForLine(/Status endpoint on https:.*follows reloads of --tls-cert/);
      const before = await servedSerial(http, ops);
      const renewed = await renewHopCert("dmz", {
        caDir: join(dir.path, "ca"),
        outDir: join(dir.path, "dmz", "certs"),
      });
      assert(renewed.serial.toUpperCase() !== before, `${renewed.serial} is a new serial`);
      dmz.child.kill("SIGHUP");
      await dmz.waitForLine(new RegExp(`HTTPS now serves CN=dmz, serial ${renewed.serial}`, "i"));
      assertEquals(await servedSerial(http, ops), renewed.serial.toUpperCase());
      const ok = await httpsGet(http, "/healthz", ops);
      assert(/^HTTP\/1\.1 200/.test(ok), ok);
    } finally {
      await stopAll(dmz);
    }
  });
}

Deno.test("metrics text escapes label values and help per the exposition format", () => {
  const text = exposition([{
    name: "x_total",
    help: "a \\ b\nc",
    type: "counter",
    samples: [{ labels: { peer: 'a"b\\c\nd' }, value: 1 }, { value: NaN }],
  }]);
  assertEquals(
    text,
    '# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\nx_total{peer="a\\"b\\\\c\\nd"} 1\nx_total NaN\n',
  );
  parseMetrics(text);
});
