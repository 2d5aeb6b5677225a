/**
 * `hopgate certs`: the chain's private CA and each hop's key and certificate,
 * made in-process (ECDSA P-256) so a chain can be set up without openssl.
 */
import { join } from "node:path";
import { writeFileAtomic } from "../atomic_file.ts";
import { fromPem, toPem } from "../base64.ts";
import { hopNamePattern } from "../config/mod.ts";

type X509 = typeof import("@peculiar/x509");
let loaded: Promise<X509> | null = null;

/**
 * @peculiar/x509 and its ASN.1 dependencies, loaded on first use: only
 * `hopgate certs` and tests need them, and every hop imports core (about
 * 10 MB of heap that a running hop does not need).
 */
function x509Module(): Promise<X509> {
  return loaded ??= import("@peculiar/x509").then((m) => {
    m.cryptoProvider.set(crypto);
    return m;
  });
}

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const day = 86_400_000;

/** A problem the user can fix; the CLI prints it and exits 2. */
export class CertError extends Error {
  /** Names the error class in messages and logs. */
  override name = "CertError";
}

/** A random positive 128-bit serial number in hex. */
function serialNumber(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0]! & 0x7f) | 0x01;
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Writes a private key readable by its owner only (0600, also when overwriting). */
function writeKey(path: string, pem: string): Promise<void> {
  return writeFileAtomic(path, pem, { mode: 0o600 });
}

/**
 * Validity in days, checked: `--days` must be a positive whole number (as
 * typed on the command line, or a number).
 */
function validDays(days: number | string | undefined, fallback: number): number {
  const d = days === undefined
    ? fallback
    : typeof days === "string"
    ? (/^\s*\d+\s*$/.test(days) ? Number(days) : NaN)
    : days;
  if (!Number.isInteger(d) || d < 1 || d > 36500) {
    throw new CertError(`--days "${days}" is not a number of days from 1 to 36500`);
  }
  return d;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Creates the chain's CA (`ca.crt`, `ca.key`) in `dir`; refuses to overwrite one. */
export async function initCa(
  dir: string,
  options: { name?: string; days?: number | string } = {},
): Promise<{ cert: string; key: string }> {
  const x509 = await x509Module();
  const days = validDays(options.days, 3650);
  const cert = join(dir, "ca.crt");
  const key = join(dir, "ca.key");
  if (await exists(key)) {
    throw new CertError(
      `A CA already exists in "${dir}"; keep it (every hop's certificate depends on it) or pass another --dir`,
    );
  }
  const keys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const notBefore = new Date(Date.now() - 60_000);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${options.name ?? "hopgate chain CA"}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + days * day),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  await Deno.mkdir(dir, { recursive: true });
  await writeKey(
    key,
    toPem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
  );
  await writeFileAtomic(cert, ca.toString("pem") + "\n");
  return { cert, key };
}

/**
 * Issues a hop's key and certificate (CN and DNS SAN = the hop name, for both
 * client and server use) into `outDir`, with a copy of the CA certificate, so
 * that `outDir` can be the hop's `<data-dir>/certs`. `ips` adds IP address
 * SANs, for peers such as mosquitto bridges that check the dialled address.
 */
export async function issueHopCert(
  hop: string,
  options: {
    caDir: string;
    outDir: string;
    days?: number | string;
    ips?: string[];
    /** The hop's existing key pair, kept (`hopgate certs renew --keep-key`); default a new one. */
    keys?: CryptoKeyPair;
  },
): Promise<{ cert: string; key: string; ca: string }> {
  const x509 = await x509Module();
  if (!hopNamePattern.test(hop)) {
    throw new CertError(`"${hop}" is not a hop name: use letters, digits, "_", "-" or "."`);
  }
  const days = validDays(options.days, 825);
  const caCertPath = join(options.caDir, "ca.crt");
  const caKeyPath = join(options.caDir, "ca.key");
  let caPem: string;
  let caKeyPem: string;
  try {
    caPem = await Deno.readTextFile(caCertPath);
    caKeyPem = await Deno.readTextFile(caKeyPath);
  } catch {
    throw new CertError(
      `Cannot read the CA in "${options.caDir}" (ca.crt and ca.key); create one with: hopgate certs init --dir ${options.caDir}, or pass --ca-dir`,
    );
  }
  const caCert = new x509.X509Certificate(caPem);
  const caKey = await crypto.subtle.importKey("pkcs8", fromPem(caKeyPem), algorithm, false, [
    "sign",
  ]);
  const keys = options.keys ??
    await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const notBefore = new Date(Date.now() - 60_000);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${hop}`,
    issuer: caCert.subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + days * day),
    signingAlgorithm: algorithm,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // digitalSignature only: keyEncipherment does not apply to EC keys.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: hop },
        ...(options.ips ?? []).map((value) => ({ type: "ip" as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  await Deno.mkdir(options.outDir, { recursive: true });
  const out = {
    cert: join(options.outDir, `${hop}.crt`),
    key: join(options.outDir, `${hop}.key`),
    ca: join(options.outDir, "ca.crt"),
  };
  // Key first, then the certificate: a hop watching them reads the pair once both are in place.
  if (!options.keys) {
    await writeKey(
      out.key,
      toPem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
    );
  }
  await writeFileAtomic(out.cert, cert.toString("pem") + "\n");
  // A CA file that already holds this CA (alone, or in a bundle with the next one) stays as it is.
  const caNow = await readOr(out.ca);
  if (out.ca !== caCertPath && !caNow?.includes(caPem.trim())) await writeFileAtomic(out.ca, caPem);
  return out;
}

async function readOr(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

/**
 * Re-issues hop `hop`'s certificate in `outDir` from the CA, for the same
 * names and IP addresses, with a new key unless `keepKey` (a new key limits
 * what a copied old key can do; keeping it suits keys pinned elsewhere).
 * Every file is replaced by a rename, so a running hop reloads a whole pair.
 */
export async function renewHopCert(
  hop: string,
  options: { caDir: string; outDir: string; days?: number | string; keepKey?: boolean },
): Promise<{ cert: string; key: string; ca: string; notAfter: Date; serial: string }> {
  const x509 = await x509Module();
  if (!hopNamePattern.test(hop)) {
    throw new CertError(`"${hop}" is not a hop name: use letters, digits, "_", "-" or "."`);
  }
  const certPath = join(options.outDir, `${hop}.crt`);
  const keyPath = join(options.outDir, `${hop}.key`);
  const oldPem = await readOr(certPath);
  if (oldPem === null) {
    throw new CertError(
      `No certificate of hop ${hop} at "${certPath}" to renew; issue one with: hopgate certs issue ${hop} --out ${options.outDir}, or pass --out`,
    );
  }
  const old = new x509.X509Certificate(oldPem);
  const san = old.getExtension(x509.SubjectAlternativeNameExtension);
  const ips = (san?.names.items ?? []).filter((n) => n.type === "ip").map((n) => n.value);
  let keys: CryptoKeyPair | undefined;
  if (options.keepKey) {
    const pem = await readOr(keyPath);
    try {
      if (pem === null) throw new Error("file not found");
      const privateKey = await crypto.subtle.importKey("pkcs8", fromPem(pem), algorithm, true, [
        "sign",
      ]);
      const { d: _d, key_ops: _ops, ...jwk } = await crypto.subtle.exportKey("jwk", privateKey);
      const publicKey = await crypto.subtle.importKey("jwk", jwk, algorithm, true, ["verify"]);
      keys = { privateKey, publicKey };
    } catch (e) {
      throw new CertError(
        `Cannot keep the key "${keyPath}" (${
          (e as Error).message
        }): --keep-key needs the hop's ECDSA P-256 key as written by hopgate certs; leave --keep-key out to make a new one`,
      );
    }
  }
  const out = await issueHopCert(hop, {
    caDir: options.caDir,
    outDir: options.outDir,
    ...(options.days !== undefined ? { days: options.days } : {}),
    ips,
    ...(keys ? { keys } : {}),
  });
  const cert = new x509.X509Certificate(await Deno.readTextFile(out.cert));
  // Upper case without leading zeros, as TLS peers and the hop's log lines show it.
  return {
    ...out,
    notAfter: cert.notAfter,
    serial: cert.serialNumber.toUpperCase().replace(/^0+(?=.)/, ""),
  };
}

/** The names a certificate gives its holder: its CN and DNS subject alternative names. */
export async function certificateNames(pem: string): Promise<string[]> {
  const x509 = await x509Module();
  const cert = new x509.X509Certificate(pem);
  const names = new Set<string>();
  const cn = /(?:^|,\s*)CN=([^,]+)/.exec(cert.subject)?.[1];
  if (cn) names.add(cn);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  for (const n of san?.names.items ?? []) if (n.type === "dns") names.add(n.value);
  return [...names];
}
