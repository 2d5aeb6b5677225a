/**
 * The hop's status endpoint: a read-only HTTP server answering `GET`/`HEAD`
 * on `/healthz`, `/readyz` and `/metrics`, and nothing else. It reads the
 * hop's store and adapter statuses when asked and holds no handle that could
 * change the hop (it never calls `apply` or `write`).
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
import { EventLoopMonitor, runtimeFamilies } from "./runtime_metrics.ts";

const paths = new Set(["/healthz", "/readyz", "/metrics"]);

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
  #server: Deno.HttpServer | null = null;
  #loop = new EventLoopMonitor();

  /** An endpoint on `address`; nothing listens before `start`. */
  constructor(address: HostPort) {
    this.#address = address;
  }

  start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    this.#loop.start();
    const { host, port } = this.#address;
    this.#server = Deno.serve({
      hostname: host,
      port,
      onListen: () => {
        ctx.log.info(
          "Status endpoint on http://{address}/ (healthz, readyz, metrics; read-only)",
          { address: formatHostPort(this.#address) },
        );
      },
      onError: (e) => {
        ctx.status.error(`Status request failed: ${(e as Error).message}`);
        return new Response("internal error\n", { status: 500 });
      },
    }, (req) => this.#handle(req));
    ctx.status.running("running");
    ctx.status.connection("connected");
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    this.#loop.stop();
    await server?.shutdown();
    this.#ctx?.status.running("stopped");
    this.#ctx?.status.connection("down");
  }

  status(): AdapterStatus {
    return this.#ctx?.status.get() ?? notStarted(this);
  }

  #handle(req: Request): Response {
    const path = new URL(req.url).pathname;
    if (!paths.has(path)) return text(req, 404, "not found\n");
    if (req.method !== "GET" && req.method !== "HEAD") {
      return text(req, 405, "method not allowed: this endpoint is read-only\n", {
        allow: "GET, HEAD",
      });
    }
    if (path === "/healthz") return text(req, 200, "ok\n");
    if (path === "/readyz") {
      const down = this.#others().filter((s) => !isUp(s));
      return down.length === 0
        ? text(req, 200, "ready\n")
        : text(req, 503, down.map(notReadyLine).join("\n") + "\n");
    }
    const ctx = this.#ctx!;
    const m = Deno.memoryUsage();
    const body = exposition([
      ...hopMetrics({
        hop: ctx.hop,
        store: ctx.store,
        statuses: ctx.statuses?.() ?? [],
        version: meta.version,
        protocol: protocolVersion,
        memory: { rss: m.rss, heapUsed: m.heapUsed },
      }),
      ...runtimeFamilies(this.#loop),
    ]);
    return text(req, 200, body, { "content-type": expositionContentType });
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
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}
