/**
 * The hop's OPC UA application certificates (server and client). node-opcua
 * would make its own default one, named after its vendor and the machine
 * (`CN=NodeOPCUA@<host>, O=Sterfive`, `urn:<host>:NodeOPCUA-Server`), the
 * same for every hop on a machine and without the address the server
 * listens on: a PLC's or client's trust list could not tell two hops apart,
 * and clients that check the endpoint's host against the certificate refuse
 * it. Here each hop's certificate names the hop, is made before node-opcua
 * looks for one, and is made again when the names it must carry change.
 */
import { isIP } from "node:net";
import type { OPCUACertificateManager } from "node-opcua-certificate-manager";
import { type Certificate, exploreCertificate, readCertificate } from "node-opcua-crypto";
import type { ApplicationNames } from "./opcua_names.ts";

/** An IPv4 or IPv6 address as node-opcua-crypto shows SAN addresses: the bytes in hex. */
function ipHex(address: string): string {
  if (isIP(address) === 4) {
    return address.split(".").map((b) => Number(b).toString(16).padStart(2, "0")).join("");
  }
  // Expands `::` so the hex has all 16 bytes.
  const [head = "", tail = ""] = address.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = address.includes("::")
    ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t]
    : h;
  return groups.map((g) => g.padStart(4, "0")).join("").toLowerCase();
}

/** What an existing certificate lacks or carries wrongly, in words; empty when it fits. */
export function certificateMismatch(certificate: Certificate, want: ApplicationNames): string[] {
  const info = exploreCertificate(certificate);
  const tbs = info.tbsCertificate;
  const san = tbs.extensions?.subjectAltName;
  const out: string[] = [];
  const cn = want.subject.match(/CN=([^/]+)/)?.[1];
  if (tbs.subject.commonName !== cn) {
    out.push(`its subject names "${tbs.subject.commonName ?? ""}", not "${cn}"`);
  }
  if (!(san?.uniformResourceIdentifier ?? []).includes(want.applicationUri)) {
    out.push(`it lacks the application URI ${want.applicationUri}`);
  }
  const dns = new Set((san?.dNSName ?? []).map((d) => d.toLowerCase()));
  const missingDns = want.dns.filter((d) => !dns.has(d.toLowerCase()));
  if (missingDns.length > 0) out.push(`it lacks the host name(s) ${missingDns.join(", ")}`);
  const ips = new Set((san?.iPAddress ?? []).map((i) => i.toLowerCase()));
  const missingIps = want.ips.filter((i) => !ips.has(ipHex(i)));
  if (missingIps.length > 0) out.push(`it lacks the address(es) ${missingIps.join(", ")}`);
  return out;
}

/** True when the certificate was signed by another (a CA, with `hopgate certs opcua`). */
function issuedByCa(certificate: Certificate): boolean {
  const tbs = exploreCertificate(certificate).tbsCertificate;
  const ski = tbs.extensions?.subjectKeyIdentifier;
  const aki = tbs.extensions?.authorityKeyIdentifier?.keyIdentifier;
  return aki !== undefined && aki !== null && ski !== aki;
}

/** Where the certificate check's findings go. */
export interface CertificateLog {
  info(message: string, properties: Record<string, unknown>): void;
  warn(message: string, properties: Record<string, unknown>): void;
}

/**
 * Makes the hop's self-signed application certificate at `file` (with the
 * manager's private key, made by its `initialize()`) when there is none or
 * when the one there does not carry `names`, saying why in the log. A
 * certificate issued by a CA is never replaced: a warning says what it
 * lacks. Returns what was done.
 */
export async function ensureApplicationCertificate(
  manager: OPCUACertificateManager,
  file: string,
  options: { names: ApplicationNames; log: CertificateLog; role: "server" | "client" },
): Promise<"kept" | "made" | "replaced"> {
  const { names, log, role } = options;
  let existing: Certificate | null = null;
  try {
    existing = readCertificate(file);
  } catch {
    existing = null;
  }
  let why: string[] = [];
  if (existing) {
    why = certificateMismatch(existing, names);
    if (why.length === 0) return "kept";
    if (issuedByCa(existing)) {
      log.warn(
        "The OPC UA {role} certificate {file} was issued by a CA but {why}; peers that check it may refuse the hop: issue it again (hopgate certs opcua)",
        { role, file, why: why.join("; ") },
      );
      return "kept";
    }
    await Deno.remove(file);
  }
  await manager.createSelfSignedCertificate({
    applicationUri: names.applicationUri,
    subject: names.subject,
    dns: names.dns,
    ip: names.ips,
    // A day back, so a peer whose clock is a little behind accepts it at once.
    startDate: new Date(Date.now() - 86_400_000),
    validity: 3650,
    outputFile: file,
  });
  if (existing) {
    log.warn(
      "Made a new OPC UA {role} certificate {file} because {why}; peers that trusted the old one must trust this one ({uri})",
      { role, file, why: why.join("; "), uri: names.applicationUri },
    );
    return "replaced";
  }
  log.info("Made the OPC UA {role} certificate {file} for {uri} ({dns})", {
    role,
    file,
    uri: names.applicationUri,
    dns: [...names.dns, ...names.ips].join(", "),
  });
  return "made";
}
