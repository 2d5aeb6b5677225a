/**
 * The hop's status endpoint: a read-only HTTP server answering `GET`/`HEAD`
 * on `/` (the status page, its script and style, and its live feed
 * `/events`), `/healthz`, `/readyz` and `/metrics`, and nothing else. It
 * reads the hop's store and adapter statuses when asked and holds no handle
 * that could change the hop (it never calls `apply` or `write`).
 */
import meta from "../../deno.json" with { type: "json" };
import {
  type Adapter,
  type AdapterStatus,
  formatHostPort,
  type HopContext,
  type HostPort,
  notStarted,
} from "../../core/mod.ts";
import { protocolVersion } from "../../tunnel/frames.ts";
import { exposition, expositionContentType, hopMetrics, isUp } from "./metrics.ts";
import { StatusEvents } from "./status_events.ts";
import { serveTls } from "./status_tls.ts";
import { currentMaterial, loadTlsMaterial, tlsMaterial } from "../../tunnel/tls.ts";
import { isLoopback } from "./options.ts";
import { certificates, type StatusInfo, statusInfo } from "./status_info.ts";
import page from "./status_page.html" with { type: "text" };
import script from "./status_page.js" with { type: "text" };
import style from "./status_page.css" with { type: "text" };
import { EventLoopMonitor, runtimeFamilies } from "./runtime_metrics.ts";

/** The page's own files: everything it loads comes from here. */
const assets: Record<string, [string, string]> = {
  "/": [page, "text/html; charset=utf-8"],
  "/status.js": [script, "text/javascript; charset=utf-8"],
  "/status.css": [style, "text/css; charset=utf-8"],
};

const paths = new Set(["/healthz", "/readyz", "/metrics", "/events", ...Object.keys(assets)]);

/**
 * Sent with every answer: the page may load and connect to nothing but this
 * hop, run no inline script or style, and be framed by no other page.
 */
const securityHeaders = {
  "content-security-policy":
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/** One line of /readyz for an adapter that is not up: `link:dmz running/down: <last error>`. */
function notReadyLine(s: AdapterStatus): string {
  return `${s.name} ${s.run}/${s.connection}: ${s.lastError ?? "no error recorded"}`;
}

/** The status endpoint adapter. */
export class StatusHttpAdapter implements Adapter {
  readonly name = "status-http";
  readonly kind = "status";
  #address: HostPort;
  #ctx: HopContext | null = null;
  #server: { shutdown(): Promise<void> } | null = null;
  /** Stops following the hop's certificate watch (HTTPS only). */
  #unwatch: (() => void) | null = null;
  #tls: boolean;
  #events: StatusEvents | null = null;
  #static: Omit<StatusInfo, "certificates" | "certificateErrors"> | null = null;
  #loop = new EventLoopMonitor();
  #startedAt = 0;

  /** An endpoint on `address`; nothing listens before `start`. */
  constructor(address: HostPort, tls = false) {
    this.#address = address;
    this.#tls = tls;
  }

  async start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    this.#startedAt = ctx.clock.now();
    this.#events = new StatusEvents({
      hop: ctx.hop,
      store: ctx.store,
      clock: ctx.clock,
      statuses: () => ctx.statuses?.() ?? [],
      info: () => this.#info(),
      infoKey: () => (ctx.certificates?.() ?? []).map((c) => `${c.path} ${c.serial}`).join("\n"),
    });
    this.#loop.start();
    const { host, port } = this.#address;
    const address = formatHostPort(this.#address);
    if (this.#tls) {
      // The tunnel's watch of the same files, when the hop has one: a renewed certificate or CA
      // bundle reaches the endpoint's next connections as it reaches the links', without a restart.
      const watch = ctx.certWatch?.("tls");
      const server = await serveTls(
        this.#address,
        currentMaterial(watch, watch ? null : await loadTlsMaterial(ctx.config)),
        (req) => this.#handle(req),
      );
      this.#server = server;
      this.#unwatch = watch?.onChange((set) => {
        const certificate = `${set.cert?.subject ?? "?"}, serial ${set.cert?.serial ?? "?"}`;
        try {
          server.update(tlsMaterial(set));
          ctx.log.info("Status endpoint's HTTPS now serves {certificate}", { certificate });
        } catch (e) {
          ctx.status.error(
            `Status endpoint's HTTPS cannot take ${certificate} (${
              (e as Error).message
            }); it keeps serving the previous certificate`,
          );
        }
      }) ?? null;
      ctx.log.info(
        "Status endpoint on https://{address}/ (status page, healthz, readyz, metrics; read-only), for clients with a certificate from the chain's CA{reload}",
        {
          address,
          reload: watch ? "; it follows reloads of --tls-cert, --tls-key and --tls-ca" : "",
        },
      );
    } else {
      this.#server = Deno.serve({
        hostname: host,
        port,
        onListen: () => {
          ctx.log.info(
            "Status endpoint on http://{address}/ (status page, healthz, readyz, metrics; read-only)",
            { address },
          );
          if (!isLoopback(host)) {
            ctx.log.warn(
              "STATUS ENDPOINT ON {address} IS PLAIN HTTP FOR ANYONE WHO REACHES IT (--status-http-public): the hop's points, links, sandbox and configuration can be read without a certificate; drop --status-http-public to require client certificates from the chain's CA",
              { address },
            );
          }
        },
        onError: (e) => {
          ctx.status.error(`Status request failed: ${(e as Error).message}`);
          return new Response("internal error\n", { status: 500 });
        },
      }, (req) => this.#handle(req));
    }
    ctx.status.running("running");
    ctx.status.connection("connected");
  }

  async stop(): Promise<void> {
    this.#unwatch?.();
    this.#unwatch = null;
    const server = this.#server;
    this.#server = null;
    this.#events?.close();
    this.#loop.stop();
    await server?.shutdown();
    this.#ctx?.status.running("stopped");
    this.#ctx?.status.connection("down");
  }

  status(): AdapterStatus {
    return this.#ctx?.status.get() ?? notStarted(this);
  }

  #handle(req: Request): Response | Promise<Response> {
    const path = new URL(req.url).pathname;
    if (!paths.has(path)) return text(req, 404, "not found\n");
    if (req.method !== "GET" && req.method !== "HEAD") {
      return text(req, 405, "method not allowed: this endpoint is read-only\n", {
        allow: "GET, HEAD",
      });
    }
    const asset = assets[path];
    if (asset) return text(req, 200, asset[0], { "content-type": asset[1] });
    if (path === "/events") {
      if (req.method === "HEAD") return text(req, 200, "", { "content-type": "text/event-stream" });
      const res = this.#events!.open(new URL(req.url).searchParams.get("q") ?? "");
      for (const [k, v] of Object.entries(securityHeaders)) res.headers.set(k, v);
      return res;
    }
    if (path === "/healthz") return text(req, 200, "ok\n");
    if (path === "/readyz") {
      const down = this.#others().filter((s) => !isUp(s));
      return down.length === 0
        ? text(req, 200, "ready\n")
        : text(req, 503, down.map(notReadyLine).join("\n") + "\n");
    }
    return this.#metrics(req);
  }

  async #metrics(req: Request): Promise<Response> {
    const ctx = this.#ctx!;
    // The certificates in use now: a renewal shows at the next scrape.
    const certs = await certificates(ctx.config, ctx.certificates?.() ?? [])
      .then((c) => c.certs, () => []);
    const m = Deno.memoryUsage();
    const delay = this.#loop.take();
    const body = exposition([
      ...hopMetrics({
        hop: ctx.hop,
        store: ctx.store,
        statuses: ctx.statuses?.() ?? [],
        version: meta.version,
        protocol: protocolVersion,
        memory: m,
        writeResults: ctx.writeResults?.() ?? {},
        certificates: certs,
        loopDelay: { meanSeconds: delay.mean / 1000, maxSeconds: delay.max / 1000 },
        startedAt: this.#startedAt,
      }),
      ...runtimeFamilies(),
    ]);
    return text(req, 200, body, { "content-type": expositionContentType });
  }

  /**
   * The page's part about the hop: what does not change computed once, the
   * certificates as they are now (a page opened after a renewal shows it).
   */
  async #info(): Promise<StatusInfo> {
    const ctx = this.#ctx!;
    this.#static ??= statusInfo(ctx.config, {
      version: meta.version,
      protocol: protocolVersion,
      startedAt: this.#startedAt,
    });
    const { certs, errors } = await certificates(ctx.config, ctx.certificates?.() ?? []);
    return { ...this.#static, certificates: certs, certificateErrors: errors };
  }

  /** The statuses of the hop's other adapters. */
  #others(): AdapterStatus[] {
    return (this.#ctx?.statuses?.() ?? []).filter((s) => s.name !== this.name);
  }
}

/** A text response; `HEAD` gets the headers only. */
function text(
  req: Request,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(req.method === "HEAD" ? null : body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...securityHeaders, ...headers },
  });
}
