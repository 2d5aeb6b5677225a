/**
 * Mutual TLS 1.3 for links, through node:tls because Deno's own TLS listener
 * cannot require client certificates. Both sides present a certificate from
 * the chain's CA; names are checked against what each side expects.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import {
  type CertSet,
  type CertSetSpec,
  type CertWatch,
  type HopConfig,
  loadCertSet,
} from "../core/mod.ts";

/** A hop's certificate, key and the chain's CA, as PEM text. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string;
}

/** The tunnel's certificate files as one checked set, with the names of their expiry points. */
export function tlsCertSpec(
  config: Pick<HopConfig, "tlsCert" | "tlsKey" | "tlsCa">,
): CertSetSpec {
  return {
    cert: { path: config.tlsCert, flag: "--tls-cert" },
    key: { path: config.tlsKey, flag: "--tls-key" },
    ca: { path: config.tlsCa, flag: "--tls-ca" },
    issuedByCa: true,
    expiry: { cert: "tls", ca: "ca" },
  };
}

/** The PEM texts of a checked set of the tunnel's files. */
export function tlsMaterial(set: CertSet): TlsMaterial {
  return { cert: set.pem.cert ?? "", key: set.pem.key ?? "", ca: set.pem.ca ?? "" };
}

/**
 * Reads the files named by --tls-cert, --tls-key and --tls-ca once, checked
 * (the key is the certificate's, the CA issued it), for a link without a
 * {@link CertWatch} (`hopgate watch`, tests).
 */
export async function loadTlsMaterial(
  config: Pick<HopConfig, "tlsCert" | "tlsKey" | "tlsCa">,
): Promise<TlsMaterial> {
  return tlsMaterial(await loadCertSet(tlsCertSpec(config)));
}

/**
 * Where a link finds the hop's TLS material when it dials or accepts: the
 * current set of the hop's {@link CertWatch}, so a reload reaches the next
 * connection, or else the files read once at start.
 */
export function currentMaterial(certs: CertWatch | undefined, fallback: TlsMaterial | null) {
  if (certs) return tlsMaterial(certs.current);
  if (!fallback) throw new Error("The link's certificates were not read yet");
  return fallback;
}

/** `CN=dmz, serial 4F…, valid until 2028-…`: what a peer's certificate says, for log lines. */
export function describePeerCertificate(cert: tls.PeerCertificate | null | undefined): string {
  if (!cert || !cert.serialNumber) return "no certificate";
  const until = new Date(cert.valid_to);
  return `CN=${cert.subject?.CN ?? "?"}, serial ${cert.serialNumber}, valid until ${
    isNaN(until.getTime()) ? cert.valid_to : until.toISOString()
  }`;
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
