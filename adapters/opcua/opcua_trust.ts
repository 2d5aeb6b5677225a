/**
 * Trust lists that count without a restart, and refused certificates
 * described so an operator can act. node-opcua's certificate manager reads
 * its folders once and then relies on file watchers, which the hop keeps
 * off (they would need more permissions and hold handles on the folders):
 * instead, each certificate check first compares the trust folders'
 * modification times with those last read, and re-reads them when one
 * changed. A certificate moved to `trusted/certs/` counts from the next
 * connection; checks cost one `stat` per folder otherwise.
 */
import { join } from "node:path";
import type { OPCUACertificateManager } from "node-opcua-certificate-manager";
import {
  type Certificate,
  exploreCertificate,
  makeSHA1Thumbprint,
  split_der,
} from "node-opcua-crypto";
import type { StatusCode } from "node-opcua-client";

/** The folders whose contents decide trust (not `rejected/`, which node-opcua writes itself). */
const trustFolders = ["trusted/certs", "trusted/crl", "issuers/certs", "issuers/crl"];

async function folderStamp(pki: string): Promise<string> {
  const times = await Promise.all(
    trustFolders.map((f) => Deno.stat(join(pki, f)).then((s) => s.mtime?.getTime() ?? 0, () => 0)),
  );
  return times.join(",");
}

/**
 * The certificate check as node-opcua calls it: the secure channel awaits
 * the promise, the server's user-token check passes a callback.
 */
type Check = (
  certificate: Certificate,
  callback?: (err: Error | null, status?: StatusCode) => void,
) => Promise<StatusCode> | void;

/**
 * Makes `manager` (already initialized on `pki`) re-read its trust lists
 * when they changed, before each certificate check; `onChecked` sees every
 * result (the server logs refusals from it).
 */
export async function reloadOnChange(
  manager: OPCUACertificateManager,
  pki: string,
  onChecked?: (certificate: Certificate, status: StatusCode) => void,
): Promise<void> {
  let seen = await folderStamp(pki);
  const target = manager as unknown as { checkCertificate: Check };
  const check = target.checkCertificate.bind(manager) as (c: Certificate) => Promise<StatusCode>;
  let reloading: Promise<void> | null = null;
  const checked = async (certificate: Certificate) => {
    const now = await folderStamp(pki);
    if (now !== seen) {
      // Checks arriving during a reload wait for it rather than starting another.
      reloading ??= manager.reloadCertificates().finally(() => {
        seen = now;
        reloading = null;
      });
      await reloading;
    }
    const status = await check(certificate);
    onChecked?.(certificate, status);
    return status;
  };
  target.checkCertificate = (certificate, callback) => {
    const result = checked(certificate);
    if (!callback) return result;
    result.then((status) => callback(null, status), (err) => callback(err as Error));
  };
}

/** What an operator needs to recognise a certificate. */
export interface CertificateFacts {
  /** The subject's common name. */
  name: string;
  /** The application URI from the subject alternative names, or "" when none. */
  uri: string;
  /** SHA-1 thumbprint in hex, as OPC UA tools and node-opcua's file names show it. */
  thumbprint: string;
}

/** Name, application URI and thumbprint of a certificate (the leaf of a chain). */
export function certificateFacts(certificate: Certificate): CertificateFacts {
  const leaf = split_der(certificate)[0] ?? certificate;
  const thumbprint = makeSHA1Thumbprint(leaf).toString("hex");
  try {
    const tbs = exploreCertificate(leaf).tbsCertificate;
    return {
      name: tbs.subject.commonName ?? "",
      uri: tbs.extensions?.subjectAltName?.uniformResourceIdentifier?.[0] ?? "",
      thumbprint,
    };
  } catch {
    return { name: "", uri: "", thumbprint };
  }
}

/** The file node-opcua saved a refused certificate as (its name holds the thumbprint), or null. */
export async function rejectedFile(pki: string, thumbprint: string): Promise<string | null> {
  const folder = join(pki, "rejected");
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (entry.isFile && entry.name.toLowerCase().includes(`[${thumbprint}]`)) {
        return join(folder, entry.name);
      }
    }
  } catch { /* no rejected/ folder yet */ }
  return null;
}
