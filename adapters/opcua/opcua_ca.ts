/**
 * `hopgate certs opcua <hop>`: the hop's OPC UA application certificates
 * (server and client) issued by the chain's CA instead of self-signed, so
 * that a PLC or an OPC UA client that trusts the CA once trusts every hop of
 * the chain. OPC UA's security policies need RSA application keys; the
 * chain's CA (ECDSA P-256, `hopgate certs init`) signs them. Loads no
 * node-opcua: the files land where the hop's certificate managers look.
 */
import { isIP } from "node:net";
import { join } from "node:path";
import { CertError, fromPem, toPem } from "../../core/mod.ts";
import { applicationNames } from "./opcua_names.ts";

const day = 86_400_000;
const ecdsa = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const rsa = {
  name: "RSASSA-PKCS1-v1_5",
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
} as const;

/** What `hopgate certs opcua` wrote. */
export interface IssuedOpcuaCertificates {
  /** The server's certificate file. */
  server: string;
  /** The client's certificate file (the hop as client of PLCs). */
  client: string;
  /** The CA certificate, where the hop's server trusts it (clients issued by the chain CA). */
  trustedCa: string;
  /** The CA's (empty) revocation list, beside the CA: PLCs that trust the CA need it too. */
  crl: string;
}

/**
 * Issues the hop's OPC UA server and client certificates from the CA in
 * `caDir` into `<dataDir>/opcua-server-pki` and `<dataDir>/opcua-pki`
 * (each with its own RSA key). The certificate file holds the hop's
 * certificate alone: node-opcua 2.186 fails to read a peer's public key
 * from a certificate sent with its chain ("invalid PEM public key"), and
 * every peer that trusts the CA has the CA already. `hostname` is the machine the hop will run
 * on (its application URI names it); `addresses` what its --opcua-server
 * listens on. The hop's server trusts the CA from then on (other hops and
 * applications issued by it); the CA goes into both issuers lists.
 */
export async function issueOpcuaCertificates(
  hop: string,
  options: {
    caDir: string;
    dataDir: string;
    hostname?: string;
    addresses?: string[];
    days?: number;
  },
): Promise<IssuedOpcuaCertificates> {
  const x509 = await import("@peculiar/x509");
  x509.cryptoProvider.set(crypto);
  let caPem: string;
  let caKeyPem: string;
  try {
    caPem = await Deno.readTextFile(join(options.caDir, "ca.crt"));
    caKeyPem = await Deno.readTextFile(join(options.caDir, "ca.key"));
  } catch {
    throw new CertError(
      `Cannot read the CA in "${options.caDir}" (ca.crt and ca.key); create one with: hopgate certs init --dir ${options.caDir}, or pass --ca-dir`,
    );
  }
  const days = options.days ?? 825;
  if (!Number.isInteger(days) || days < 1 || days > 36500) {
    throw new CertError(`--days "${days}" is not a number of days from 1 to 36500`);
  }
  const ca = new x509.X509Certificate(caPem);
  const caKey = await crypto.subtle.importKey("pkcs8", fromPem(caKeyPem), ecdsa, false, ["sign"]);
  const hostname = options.hostname ?? Deno.hostname();
  const issue = async (pki: string, file: string, listen: string[]) => {
    const names = applicationNames(hop, { hostname });
    const dns = new Set(names.dns);
    const ips: string[] = [];
    for (const a of listen) isIP(a) ? ips.push(a) : dns.add(a);
    const keys = await crypto.subtle.generateKey(rsa, true, ["sign", "verify"]);
    const notBefore = new Date(Date.now() - day);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: Array.from(
        crypto.getRandomValues(new Uint8Array(16)),
        (b, i) => (i === 0 ? (b & 0x7f) | 1 : b).toString(16).padStart(2, "0"),
      ).join(""),
      subject: `CN=hopgate ${hop}, O=hopgate`,
      issuer: ca.subject,
      notBefore,
      notAfter: new Date(notBefore.getTime() + days * day),
      signingAlgorithm: ecdsa,
      publicKey: keys.publicKey,
      signingKey: caKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        // What OPC UA asks of an application instance certificate (Part 6, 6.2.2).
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation |
            x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension([
          { type: "url", value: names.applicationUri },
          ...[...dns].map((value) => ({ type: "dns" as const, value })),
          ...ips.map((value) => ({ type: "ip" as const, value })),
        ]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(ca),
      ],
    });
    for (const f of ["own/certs", "own/private", "issuers/certs", "trusted/certs"]) {
      await Deno.mkdir(join(pki, f), { recursive: true });
    }
    const key = join(pki, "own", "private", "private_key.pem");
    await Deno.writeTextFile(
      key,
      toPem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
      { mode: 0o600 },
    );
    if (Deno.build.os !== "windows") await Deno.chmod(key, 0o600);
    const out = join(pki, "own", "certs", file);
    await Deno.writeTextFile(out, cert.toString("pem") + "\n"); // alone: see above
    await Deno.writeTextFile(join(pki, "issuers", "certs", "hopgate-ca.pem"), caPem);
    return out;
  };
  // OPC UA stacks (node-opcua, most PLCs) refuse a CA-issued certificate whose CA has no
  // revocation list (BadCertificateRevocationUnknown): an empty one, valid as long as the
  // certificates, goes beside the CA (to install on PLCs with it) and into the hop's lists.
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.subject,
    thisUpdate: new Date(Date.now() - day),
    nextUpdate: new Date(Date.now() + days * day),
    signingAlgorithm: ecdsa,
    signingKey: caKey,
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca)],
  });
  const crlFile = join(options.caDir, "ca.crl");
  await Deno.writeTextFile(crlFile, crl.toString("pem") + "\n");
  for (const pki of ["opcua-server-pki", "opcua-pki"]) {
    for (const list of ["issuers", "trusted"]) {
      const folder = join(options.dataDir, pki, list, "crl");
      await Deno.mkdir(folder, { recursive: true });
      await Deno.writeTextFile(join(folder, "hopgate-ca.crl"), crl.toString("pem") + "\n");
    }
  }
  const server = await issue(
    join(options.dataDir, "opcua-server-pki"),
    "certificate.pem",
    options.addresses ?? [],
  );
  const client = await issue(join(options.dataDir, "opcua-pki"), "client_certificate.pem", []);
  const trustedCa = join(options.dataDir, "opcua-server-pki", "trusted", "certs", "hopgate-ca.pem");
  await Deno.writeTextFile(trustedCa, caPem);
  return { server, client, trustedCa, crl: crlFile };
}
