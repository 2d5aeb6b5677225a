/**
 * What the status page shows about the hop itself: its version, the sandbox
 * it runs in, a summary of its configuration without secrets (none of which
 * changes while the hop runs), and its certificates with their expiry (which
 * do, when they are renewed).
 */
import {
  certificateInfos,
  derivePermissions,
  formatHostPort,
  type HeldCertificate,
  type HopConfig,
  plugins,
} from "../../core/mod.ts";
import { statusOptions } from "./options.ts";

/** One certificate of a file the configuration names. */
export interface CertInfo {
  /** The option naming the file (`tls-cert`). */
  option: string;
  /**
   * The name of the file's expiry point (`tls` for `<hop>/$certs/tls/expires`);
   * absent for a file no certificate watch holds (`opcua-user-cert`).
   */
  name?: string;
  /** The file it was read from. */
  path: string;
  /** Distinguished name of the certificate. */
  subject: string;
  /** Distinguished name of its issuer. */
  issuer: string;
  /** Serial number in hex. */
  serial: string;
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

/** `tlsCert` → `tls-cert`. */
function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

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

/**
 * The certificates of the files the configuration names: those the hop's
 * certificate watches hold (`held`, the sets in use, following every reload),
 * and the others read now with the same reader (`--opcua-user-cert`, which the
 * OPC UA client reads when it connects, or `--tls-cert` of a hop whose only
 * use of it is the HTTPS status endpoint). Nothing is cached: a scrape or a
 * page opened after a renewal shows the new certificate.
 */
export async function certificates(
  config: HopConfig,
  held: readonly HeldCertificate[],
): Promise<{ certs: CertInfo[]; errors: string[] }> {
  const certs: CertInfo[] = held.map((c) => ({
    option: c.flag.replace(/^--/, ""),
    name: c.name,
    path: c.path,
    subject: c.subject,
    issuer: c.issuer,
    serial: c.serial,
    notBefore: c.notBefore.getTime(),
    notAfter: c.notAfter.getTime(),
  }));
  const errors: string[] = [];
  const watched = new Set(certs.map((c) => c.option));
  const values = config as unknown as Record<string, unknown>;
  for (const key of certOptions) {
    const path = values[key];
    const option = kebab(key);
    if (typeof path !== "string" || path === "" || watched.has(option)) continue;
    try {
      const pem = await Deno.readTextFile(path);
      for (const c of certificateInfos(pem, { path, flag: `--${option}` })) {
        certs.push({
          option,
          path,
          subject: c.subject,
          issuer: c.issuer,
          serial: c.serial,
          notBefore: c.notBefore.getTime(),
          notAfter: c.notAfter.getTime(),
        });
      }
    } catch (e) {
      // A default path no adapter uses (no tunnel: no certificate, and no permission to read it).
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotCapable) continue;
      const message = (e as Error).message;
      errors.push(
        message.startsWith(`--${option}`) ? message : `--${option} "${path}": ${message}`,
      );
    }
  }
  return { certs, errors };
}

/** The page's part about the hop itself, without its certificates (see {@link certificates}). */
export function statusInfo(
  config: HopConfig,
  meta: { version: string; protocol: number; startedAt: number },
): Omit<StatusInfo, "certificates" | "certificateErrors"> {
  const p = derivePermissions(config);
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
    config: configSummary(config),
  };
}
