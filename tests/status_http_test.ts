/** The status endpoint: a read-only HTTP server per hop, run under the hop's derived permissions. */
import "../adapters/all.ts";
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { derivePermissions } from "../core/mod.ts";
import { exposition } from "../adapters/status/mod.ts";
import { protocolVersion } from "../tunnel/frames.ts";
import { chainCerts, startDmz, startHop, stopAll } from "./kit/hops.ts";
import { flagsConfig, freePort, type Proc, runHopgate, tempDir, waitFor } from "./kit/helpers.ts";

const fast = ["--heartbeat", "200ms", "--link-timeout", "1s"];

/** A sample line of the text exposition format 0.0.4: `name{label="value",…} value`. */
const sampleLine =
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*")*\})? (?:[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|[+-]Inf)$/;

/** The samples of a metrics text, keyed `name{labels}`; throws on a line outside the grammar. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    assert(sampleLine.test(line), `not an exposition line: ${JSON.stringify(line)}`);
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
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
    // The simulator's 25 points and the three health points of the link to plant1.
    const before = parseMetrics((await get(`${base}/metrics`)).body);
    assertEquals(
      (before.get('hopgate_points{status_class="good"}') ?? 0) +
        (before.get('hopgate_points{status_class="uncertain"}') ?? 0) +
        (before.get('hopgate_points{status_class="bad"}') ?? 0),
      25 + 3,
    );
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
    // Its own 25, the plant's 40, and the health points of both hops' links, all good.
    const after = await waitFor("every point good", async () => {
      const m = parseMetrics((await get(`${base}/metrics`)).body);
      return m.get('hopgate_points{status_class="good"}') === 25 + 40 + 6 ? m : undefined;
    });
    assertEquals(after.get('hopgate_points{status_class="uncertain"}'), 0);
    assertEquals(after.get('hopgate_points{status_class="bad"}'), 0);
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
    assertEquals((await get(`${base}/`)).status, 404);
  } finally {
    await stopAll(plant, dmz);
  }
});

Deno.test("a non-loopback status endpoint needs --status-http-public", async () => {
  await using dir = await tempDir();
  const flags = ["run", "--name", "p", "--sim", "5", "--data-dir", dir.path];
  const r = await runHopgate([...flags, "--status-http", "0.0.0.0:9464"]);
  assertEquals(r.code, 2, r.stderr);
  assert(/--status-http 0\.0\.0\.0:9464 is not a loopback address/.test(r.stderr), r.stderr);
  assert(r.stderr.includes("--status-http-public"), r.stderr);
  // Given on purpose, the address joins the hop's permissions like every other.
  const { config } = flagsConfig(dir.path, [
    ...flags.slice(1),
    "--status-http",
    "0.0.0.0:9464",
    "--status-http-public",
  ]);
  assertEquals(derivePermissions(config).net, ["0.0.0.0:9464"]);
  const local = flagsConfig(dir.path, [...flags.slice(1), "--status-http", "127.0.0.1:9464"]);
  assertEquals(derivePermissions(local.config).net, ["127.0.0.1:9464"]);
});

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
