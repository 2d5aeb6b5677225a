/**
 * Mutual TLS 1.3 for links, through node:tls because Deno's own TLS listener
 * cannot require client certificates. Both sides present a certificate from
 * the chain's CA; names are checked against what each side expects.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import type { HopConfig } from "../core/mod.ts";

/** A hop's certificate, key and the chain's CA, as PEM text. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string;
}

/** Reads the files named by --tls-cert, --tls-key and --tls-ca. */
export async function loadTlsMaterial(
  config: Pick<HopConfig, "tlsCert" | "tlsKey" | "tlsCa">,
): Promise<TlsMaterial> {
  const read = async (path: string, flag: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (e) {
      throw new Error(`Cannot read ${flag} "${path}": ${(e as Error).message}`);
    }
  };
  const material = {
    cert: await read(config.tlsCert, "--tls-cert"),
    key: await read(config.tlsKey, "--tls-key"),
    ca: await read(config.tlsCa, "--tls-ca"),
  };
  try {
    // Fails now, with the files named, rather than at every reconnect.
    tls.createSecureContext(material);
  } catch (e) {
    throw new Error(
      `Cannot use --tls-cert "${config.tlsCert}", --tls-key "${config.tlsKey}" and --tls-ca "${config.tlsCa}": ${
        (e as Error).message
      }; make them with hopgate certs issue`,
    );
  }
  return material;
}

/** The names a peer certificate gives its holder: CN and DNS subject alternative names. */
export function peerNames(cert: tls.PeerCertificate | null | undefined): string[] {
  if (!cert) return [];
  const names = new Set<string>();
  const cn = cert.subject?.CN;
  if (typeof cn === "string") names.add(cn);
  for (const part of (cert.subjectaltname ?? "").split(",")) {
    const m = /^\s*DNS:(.+)$/.exec(part);
    if (m) names.add(m[1]!.trim());
  }
  return [...names];
}

/**
 * A TLS server that demands a client certificate from the chain's CA. The
 * listener does not let it listen: it feeds it the TCP connections it admits
 * (`server.emit("connection", socket)`), so that refused ones never reach TLS.
 * `handshakeTimeout` is a backstop; the listener enforces its own deadline.
 */
export function createLinkServer(
  material: TlsMaterial,
  options: { handshakeTimeout: number },
  onSecure: (socket: tls.TLSSocket) => void,
): tls.Server {
  return tls.createServer({
    key: material.key,
    cert: material.cert,
    ca: material.ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
    handshakeTimeout: options.handshakeTimeout,
  }, onSecure);
}

/**
 * The TCP connection under a server-side TLS socket, so that the listener can
 * match a finished or failed handshake with the connection it admitted (a
 * failed socket may no longer know its remote address). Node and Deno both
 * keep it as `_parent`, which their typings omit; `null` if a runtime does not.
 */
export function tcpSocketOf(socket: tls.TLSSocket): net.Socket | null {
  const parent: unknown = Reflect.get(socket, "_parent");
  return parent instanceof net.Socket ? parent : null;
}

/** A failed server-side handshake, in words: OpenSSL aborts on a certificate from another CA, and Node reports a hang-up. */
export function handshakeFailure(e: Error): string {
  return e.message === "socket hang up"
    ? "the client's certificate was refused or it gave up"
    : e.message;
}

/**
 * Dials a listener, checking that its certificate names `peer`. With TLS 1.3
 * the listener judges our certificate after this resolves: only its hello
 * proves the link is up.
 */
export function dialLink(
  material: TlsMaterial,
  target: { host: string; port: number; peer: string | null },
): tls.TLSSocket {
  const peer = target.peer;
  return tls.connect({
    host: target.host,
    port: target.port,
    key: material.key,
    cert: material.cert,
    ca: material.ca,
    minVersion: "TLSv1.3",
    servername: peer ?? "hopgate",
    checkServerIdentity: (_host, cert) => {
      const names = peerNames(cert);
      if (peer === null || names.includes(peer)) return undefined;
      return new Error(
        `The listener's certificate names ${names.join(", ") || "nothing"}, not hop "${peer}"`,
      );
    },
  });
}
