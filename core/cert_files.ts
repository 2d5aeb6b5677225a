/**
 * A hop's certificate, key and CA files, read and checked together: a pair
 * is only worth using (or swapping in for the one in use) when every file
 * parses, the key belongs to the certificate and, for the chain's own files,
 * the certificate was issued by the CA. Node's `tls.createSecureContext`
 * checks none of this under Deno, so a half-written or mismatched pair would
 * otherwise show up only as failed handshakes.
 *
 * Certificates are read with `node:crypto`'s X509Certificate, next to the
 * TLS stack a hop loads anyway: after node:tls it added 1.4–1.6 MB of RSS
 * here, where @peculiar/x509 (what `hopgate certs` writes with) added
 * 15–16 MB of RSS and 4 MB of heap, for the fields a hop reads (subject,
 * issuer, serial, validity) and the two checks (key, issuer) it cannot do
 * itself. The status page and metrics take what they show from here too
 * (through the `CertWatch` of each set), so they follow a rotation and load
 * nothing more.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";

/** One file as configured: its path and the flag that named it (for messages). */
export interface CertFile {
  /** Where it is read from. */
  path: string;
  /** The flag that names it (`--tls-cert`), for messages. */
  flag: string;
}

/**
 * The files of one TLS identity. `cert` and `key` go together; `ca` is whom
 * the peer must be issued by. `expiry` names the `$certs/<name>/expires`
 * point of the certificate file and of the CA file.
 */
export interface CertSetSpec {
  /** The certificate file (may carry intermediates after it). */
  cert?: CertFile;
  /** The private key belonging to `cert`. */
  key?: CertFile;
  /** The CA file (one or several CA certificates). */
  ca?: CertFile;
  /** The certificate must be issued by a certificate in `ca` (the chain's own CA). */
  issuedByCa?: boolean;
  /** Point names of the certificate's and the CA's expiry (`tls`, `ca`, `mqtt`, `mqtt-ca`). */
  expiry: { cert?: string; ca?: string };
}

/** What a hop tells about a certificate: who, which one, until when. */
export interface CertInfo {
  /** Distinguished name, as the log shows it. */
  subject: string;
  /** Distinguished name of the issuer, written like `subject`. */
  issuer: string;
  /** Serial number in hex. */
  serial: string;
  /** Start of validity. */
  notBefore: Date;
  /** End of validity: the `$certs/<name>/expires` point's value. */
  notAfter: Date;
}

/** The PEM texts of a checked set, and what the certificates in it say. */
export interface CertSet {
  /** The files' texts, as TLS contexts take them. */
  pem: { cert?: string; key?: string; ca?: string };
  /** The certificate file's first certificate (its own). */
  cert?: CertInfo;
  /** The CA file's certificate that expires first. */
  ca?: CertInfo;
  /** Every certificate of the certificate file, its own first, then the intermediates. */
  chain?: CertInfo[];
  /** Every certificate of the CA file (a bundle holds the old and the new CA while it changes). */
  cas?: CertInfo[];
}

const pemBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM file; throws naming the file if it holds none or a broken one. */
function certificates(text: string, file: CertFile): X509Certificate[] {
  const blocks = text.match(pemBlock) ?? [];
  if (blocks.length === 0 || /-----BEGIN CERTIFICATE-----(?![\s\S]*-----END)/.test(text)) {
    throw new Error(
      `${file.flag} "${file.path}" holds no complete PEM certificate (half written?); write the whole file, or rename a finished one into place`,
    );
  }
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new Error(
        `${file.flag} "${file.path}": certificate ${i + 1} cannot be read (${
          (e as Error).message
        }); write the whole file again`,
      );
    }
  });
}

/** Subject, issuer, serial and validity of a certificate. */
export function certInfo(cert: X509Certificate): CertInfo {
  return {
    subject: cert.subject.replace(/\n/g, ", "),
    issuer: cert.issuer.replace(/\n/g, ", "),
    serial: cert.serialNumber,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
  };
}

/**
 * What the certificates of a PEM file's `text` say, for a file no
 * `CertWatch` holds (the status page shows it); throws naming `file`
 * if it holds no complete certificate or a broken one.
 */
export function certificateInfos(text: string, file: CertFile): CertInfo[] {
  return certificates(text, file).map(certInfo);
}

/** True when `cert` was signed by `issuer` (directly). */
function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

async function readFile(file: CertFile): Promise<string> {
  try {
    return await Deno.readTextFile(file.path);
  } catch (e) {
    throw new Error(`Cannot read ${file.flag} "${file.path}": ${(e as Error).message}`);
  }
}

/**
 * Reads and checks a set: each file parses, the key matches the certificate,
 * and (with `issuedByCa`) the certificate chains to the CA, through
 * intermediates that follow it in the certificate file. Throws an error whose
 * message names the file, the flag and what to do.
 */
export async function loadCertSet(spec: CertSetSpec): Promise<CertSet> {
  const out: CertSet = { pem: {} };
  let leafChain: X509Certificate[] = [];
  let cas: X509Certificate[] = [];
  if (spec.cert) {
    out.pem.cert = await readFile(spec.cert);
    leafChain = certificates(out.pem.cert, spec.cert);
    out.chain = leafChain.map(certInfo);
    out.cert = out.chain[0]!;
  }
  if (spec.key) {
    out.pem.key = await readFile(spec.key);
    let key: KeyObject;
    try {
      key = createPrivateKey(out.pem.key);
    } catch (e) {
      throw new Error(
        `${spec.key.flag} "${spec.key.path}" holds no private key that can be read (${
          (e as Error).message
        }; half written?); write the whole PEM key`,
      );
    }
    const leaf = leafChain[0];
    if (leaf && spec.cert && !leaf.checkPrivateKey(key)) {
      throw new Error(
        `${spec.key.flag} "${spec.key.path}" is not the key of ${spec.cert.flag} "${spec.cert.path}" (${
          certInfo(leaf).subject
        }, serial ${leaf.serialNumber}); write the key and the certificate issued for it together`,
      );
    }
  }
  if (spec.ca) {
    out.pem.ca = await readFile(spec.ca);
    cas = certificates(out.pem.ca, spec.ca);
    out.cas = cas.map(certInfo);
    out.ca = out.cas.reduce((a, b) => b.notAfter < a.notAfter ? b : a);
  }
  const leaf = leafChain[0];
  if (spec.issuedByCa && leaf && spec.cert && spec.ca) {
    // Walk up through the intermediates in the certificate file until a CA certificate signed it.
    let current = leaf;
    let trusted = false;
    for (let step = 0; step < leafChain.length && !trusted; step++) {
      trusted = cas.some((ca) => issuedBy(current, ca));
      const next = leafChain.find((c) => c !== current && issuedBy(current, c));
      if (!trusted && !next) break;
      if (next) current = next;
    }
    if (!trusted) {
      throw new Error(
        `${spec.cert.flag} "${spec.cert.path}" (${
          certInfo(leaf).subject
        }, issued by ${leaf.issuer}) is not issued by the CA in ${spec.ca.flag} "${spec.ca.path}"; issue it with hopgate certs renew, or give the CA that signed it`,
      );
    }
  }
  return out;
}
