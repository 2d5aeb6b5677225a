/**
 * The status endpoint over HTTPS with client certificates: only holders of a
 * certificate from the chain's CA (a hop's, or one issued to an operator with
 * `hopgate certs issue`) get an answer. Served through `node:https` because
 * Deno's own server cannot require client certificates; the requests are
 * handed to the same `Request` → `Response` handler as the plain endpoint,
 * streamed bodies (the page's live feed) included.
 */
import * as https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { HostPort } from "../../core/mod.ts";
import type { TlsMaterial } from "../../tunnel/tls.ts";

/** A running HTTPS endpoint. */
export interface TlsEndpoint {
  /** Serves `files` to the connections that come from now on (those open keep theirs). */
  update(files: TlsMaterial): void;
  shutdown(): Promise<void>;
}

/**
 * Serves `handler` on `address` over TLS 1.3, refusing clients without a
 * certificate from `ca`; resolves once listening.
 */
export function serveTls(
  address: HostPort,
  files: TlsMaterial,
  handler: (req: Request) => Response | Promise<Response>,
): Promise<TlsEndpoint> {
  const context = (f: TlsMaterial) => ({
    key: f.key,
    cert: f.cert,
    ca: f.ca,
    minVersion: "TLSv1.3" as const,
  });
  const server = https.createServer({
    ...context(files),
    requestCert: true,
    rejectUnauthorized: true,
  }, (req, res) => void answer(req, res, handler, address));
  const endpoint: TlsEndpoint = {
    update: (f) => server.setSecureContext(context(f)),
    shutdown: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      // A failed handshake (no or a foreign certificate) is the client's problem, not the hop's.
      server.on("tlsClientError", () => {});
      resolve(endpoint);
    });
  });
}

/** Hands one request to `handler` and writes its answer, streaming the body until the client goes. */
async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  handler: (req: Request) => Response | Promise<Response>,
  address: HostPort,
): Promise<void> {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === "string") headers.set(k, v);
  }
  // The body of any request is ignored: the endpoint answers GET and HEAD only.
  req.resume();
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  const request = new Request(`https://${host}:${address.port}${req.url ?? "/"}`, {
    method: req.method ?? "GET",
    headers,
  });
  let response: Response;
  try {
    response = await handler(request);
  } catch {
    response = new Response("internal error\n", { status: 500 });
  }
  res.writeHead(response.status, Object.fromEntries(response.headers));
  const body = response.body;
  if (body === null) {
    res.end();
    return;
  }
  const reader = body.getReader();
  res.on("close", () => void reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(value);
    }
  } catch { /* the client went away */ }
  res.end();
}
