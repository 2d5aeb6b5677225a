/**
 * What the status page shows that does not change while the hop runs: its
 * version, the sandbox it runs in, its certificates with their expiry, and a
 * summary of its configuration without secrets.
 */
import { derivePermissions, formatHostPort, type HopConfig, plugins } from "../../core/mod.ts";
import { statusOptions } from "./options.ts";

/** One certificate of a file the configuration names. */
export interface CertInfo {
  /** The option naming the file (`tls-cert`). */
  option: string;
  /** The file it was read from. */
  path: string;
  /** Distinguished name of the certificate. */
  subject: string;
  /** Distinguished name of its issuer. */
  issuer: string;
  /** Start of validity, epoch ms. */
  notBefore: number;
  /** End of validity, epoch ms. */
  notAfter: number;
}

/** The static part of the page. */
export interface StatusInfo {
  hop: string;
  version: string;
  protocol: number;
  startedAt: number;
  /** The permission set derived from the configuration: what the hop needs. */
  sandbox: Record<string, string[]>;
  /** Permissions granted beyond those (broad grants), from `Deno.permissions`. */
  broad: string[];
  certificates: CertInfo[];
  /** Files named as certificates that could not be read or parsed, with why. */
  certificateErrors: string[];
  /** Option (kebab-case) and value as text, secrets left out. */
  config: [string, string][];
}

/** Options whose value is a certificate file (PEM, possibly a chain). */
const certOptions = ["tlsCert", "tlsCa", "mqttCert", "mqttCa", "opcuaUserCert"];

/** Option names whose values are never shown. */
const secretKey = /pass|secret|token|credential|private/i;

/** `userinfo@` of a URL, which may hold a password. */
const urlUser = /^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i;

/** An option's value as text for the summary; `null` leaves it out (unset, off or empty). */
function configText(v: unknown): string | null {
  if (v === undefined || v === null || v === false || v === "") return null;
  if (Array.isArray(v)) {
    const parts = v.map(configText).filter((x): x is string => x !== null);
    return parts.length ? parts.join(", ") : null;
  }
  if (v instanceof URL) return configText(v.href);
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (typeof o.host === "string" && typeof o.port === "number") {
      return formatHostPort({ host: o.host, port: o.port });
    }
    return JSON.stringify(v, (_k, x) => typeof x === "bigint" ? String(x) : x);
  }
  const text = String(v).replace(urlUser, "$1***@");
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/**
 * The configuration as option and text, without secrets (their presence
 * only), leaving out the options of plugins the hop does not use (their
 * defaults say nothing about it).
 */
export function configSummary(config: HopConfig): [string, string][] {
  const unused = new Set(
    plugins()
      .filter((p) => !p.active(config) && p.options !== statusOptions)
      .flatMap((p) => Object.keys(p.options)),
  );
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(config).sort(([a], [b]) => a.localeCompare(b))) {
    if (unused.has(key)) continue;
    const text = configText(value);
    if (text === null) continue;
    const name = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    out.push([name, secretKey.test(key) && !/(File|Env)$/.test(key) ? "(set, not shown)" : text]);
  }
  return out;
}

/** Broad grants this process holds: unrestricted kinds, and run or ffi at all. */
function broadGrants(): string[] {
  const kinds = ["net", "read", "write", "env", "sys", "run", "ffi"] as const;
  return kinds.filter((name) => {
    try {
      return Deno.permissions.querySync({ name }).state === "granted";
    } catch {
      return false;
    }
  });
}

/** The certificates in the PEM files the configuration names. */
async function certificates(
  config: HopConfig,
): Promise<{ certs: CertInfo[]; errors: string[] }> {
  const certs: CertInfo[] = [];
  const errors: string[] = [];
  const values = config as unknown as Record<string, unknown>;
  const files = certOptions
    .map((k) => [k, values[k]] as const)
    .filter((e): e is readonly [string, string] => typeof e[1] === "string" && e[1] !== "");
  if (files.length === 0) return { certs, errors };
  // Loaded only by a hop that shows its page, and only once.
  const { X509Certificate } = await import("@peculiar/x509");
  for (const [key, path] of files) {
    const option = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    try {
      const pem = await Deno.readTextFile(path);
      const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
      if (blocks.length === 0) throw new Error("no PEM certificate in it");
      for (const b of blocks) {
        const c = new X509Certificate(b);
        certs.push({
          option,
          path,
          subject: c.subject,
          issuer: c.issuer,
          notBefore: c.notBefore.getTime(),
          notAfter: c.notAfter.getTime(),
        });
      }
    } catch (e) {
      // A default path no adapter uses (no tunnel: no certificate, and no permission to read it).
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotCapable) continue;
      errors.push(`--${option} "${path}": ${(e as Error).message}`);
    }
  }
  return { certs, errors };
}

/** The static part of the page for a hop of `config`. */
export async function statusInfo(
  config: HopConfig,
  meta: { version: string; protocol: number; startedAt: number },
): Promise<StatusInfo> {
  const p = derivePermissions(config);
  const { certs, errors } = await certificates(config);
  return {
    hop: config.name,
    ...meta,
    sandbox: {
      net: p.net,
      read: p.read,
      write: p.write,
      env: p.env,
      sys: p.sys,
      "ignore-env": p.ignoreEnv,
    },
    broad: broadGrants(),
    certificates: certs,
    certificateErrors: errors,
    config: configSummary(config),
  };
}
