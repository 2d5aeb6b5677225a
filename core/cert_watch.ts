/**
 * Certificates that rotate without a restart (`certs:<set>`): holds the
 * checked certificate, key and CA of one TLS identity (the tunnel's, the
 * MQTT bridge's), reads them again when the files change or on SIGHUP, and
 * hands the new set to whoever opens connections next. A set that fails its
 * checks (half written, key of another certificate, not issued by the CA) is
 * refused with one log line and the one in use stays. Established
 * connections never see a reload: only new ones use the new set.
 *
 * Files are watched by a periodic stat (modification time, size, inode)
 * rather than `Deno.watchFs`: a watch on a file follows its inode and goes
 * quiet when the file is replaced by a rename (how `hopgate certs renew`,
 * certbot and most deploy tools write), and watching the folder instead
 * would need read permission on the whole folder, which the hop does not
 * have. Three stats every --cert-check are cheap.
 *
 * Each certificate's expiry is a point, `<hop>/$certs/<name>/expires`
 * (DateTime, Good; Bad with BadCertificateTimeInvalid and a cause once
 * expired), and a warning is logged 30, 7 and 1 days ahead (once each).
 */
import type { Adapter, AdapterStatus, HopContext } from "./adapter.ts";
import { notStarted } from "./adapter.ts";
import {
  type CertFile,
  type CertInfo,
  type CertSet,
  type CertSetSpec,
  loadCertSet,
} from "./cert_files.ts";
import type { TimerId } from "./clock.ts";
import { Status } from "./status.ts";

/** Days before expiry at which a warning is logged, once each per certificate. */
export const expiryWarningDays = [30, 7, 1] as const;

const day = 86_400_000;

/** How a {@link CertWatch} watches its files. */
export interface CertWatchOptions {
  /** Milliseconds between stats of the files; 0 reads them on SIGHUP only (--cert-check). */
  interval: number;
  /**
   * A change is read once the files have stayed unchanged this long, so a
   * certificate and key replaced one after the other are read as a pair.
   * Default 1000 ms, or `interval` if shorter.
   */
  settle?: number;
  /** What to do about an expiring certificate or its CA, for the warning lines. */
  hints?: { cert?: string; ca?: string };
  /** Listen to SIGHUP (default true; tests with several watchers in one process turn it off). */
  sighup?: boolean;
}

/** The id of a certificate's expiry point. */
export function certExpiryPointId(hop: string, name: string): string {
  return `${hop}/$certs/${name}/expires`;
}

/**
 * A certificate a hop uses now, as its status page and metrics show it: the
 * set in use after the last accepted reload, never a file on disk that was
 * refused.
 */
export interface HeldCertificate extends CertInfo {
  /** The name of its file's expiry point, `<hop>/$certs/<name>/expires` (`tls`, `ca`, `mqtt`, `mqtt-ca`). */
  name: string;
  /** The flag that names its file (`--tls-cert`). */
  flag: string;
  /** The file it was read from. */
  path: string;
}

/** `CN=dmz, serial 4F…, valid until 2027-03-05T05:34:22.000Z`. */
function describe(info: CertInfo): string {
  return `${info.subject}, serial ${info.serial}, valid until ${info.notAfter.toISOString()}`;
}

/** One TLS identity's files, checked, watched and reloaded. */
export class CertWatch implements Adapter {
  readonly name: string;
  readonly kind = "certs";
  #spec: CertSetSpec;
  #options: CertWatchOptions;
  #ctx: HopContext | null = null;
  #set: CertSet | null = null;
  /** The files' stat signature of the set in use, and of the last refused one. */
  #loadedSig = "";
  #refusedSig = "";
  #timer: TimerId = 0;
  #stopped = false;
  #busy: Promise<void> = Promise.resolve();
  #listeners = new Set<(set: CertSet) => void>();
  /** Thresholds already warned about, per certificate serial; serials already logged as expired. */
  #warned = new Map<string, Set<number>>();
  #expired = new Set<string>();
  #onHup = () => void this.reload("SIGHUP");

  /** A watcher `certs:<set>` of the files in `spec`. */
  constructor(set: string, spec: CertSetSpec, options: CertWatchOptions) {
    this.name = `certs:${set}`;
    this.#spec = spec;
    this.#options = options;
  }

  /** The set in use; only after start. */
  get current(): CertSet {
    if (!this.#set) throw new Error(`${this.name} has not read its files yet`);
    return this.#set;
  }

  /**
   * Every certificate of the set in use (the certificate file's, own first,
   * then the CA file's), for reports; empty before start. Read-only: a copy
   * of what the last accepted reload read.
   */
  certificates(): HeldCertificate[] {
    const set = this.#set;
    if (!set) return [];
    const fallback = this.name.slice("certs:".length);
    const out: HeldCertificate[] = [];
    const files = [
      [set.chain, this.#spec.cert, this.#spec.expiry.cert],
      [set.cas, this.#spec.ca, this.#spec.expiry.ca],
    ] as const;
    for (const [infos, file, name] of files) {
      if (!infos || !file) continue;
      for (const info of infos) {
        out.push({ ...info, name: name ?? fallback, flag: file.flag, path: file.path });
      }
    }
    return out;
  }

  /** Calls `fn` with every set reloaded from now on; returns the unsubscribe. */
  onChange(fn: (set: CertSet) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Reads the files (a hop does not start on a set that fails its checks) and starts watching. */
  async start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    this.#loadedSig = await this.#signature();
    this.#set = await loadCertSet(this.#spec);
    ctx.status.running("running");
    ctx.status.connection("connected");
    ctx.log.info("Using {files}: {certificate}", {
      files: this.#fileList(),
      certificate: this.#set.cert ? describe(this.#set.cert) : describe(this.#set.ca!),
    });
    this.#checkExpiry();
    if (this.#options.sighup !== false) {
      try {
        Deno.addSignalListener("SIGHUP", this.#onHup);
      } catch { /* no SIGHUP on Windows: the files are still watched */ }
    }
    this.#schedule();
  }

  stop(): Promise<void> {
    this.#stopped = true;
    this.#ctx?.clock.clearTimeout(this.#timer);
    if (this.#options.sighup !== false) {
      try {
        Deno.removeSignalListener("SIGHUP", this.#onHup);
      } catch { /* not registered on this platform */ }
    }
    this.#ctx?.status.running("stopped");
    return this.#busy;
  }

  status(): AdapterStatus {
    return this.#ctx?.status.get() ?? notStarted(this);
  }

  /**
   * Reads the files again now (SIGHUP, or a change the watch saw) and, if
   * they pass their checks, uses them for every new connection. Resolves to
   * whether the new set is in use.
   */
  reload(trigger: string): Promise<boolean> {
    const run = this.#busy.then(() => this.#reload(trigger));
    this.#busy = run.then(() => {}, () => {});
    return run;
  }

  async #reload(trigger: string): Promise<boolean> {
    const ctx = this.#ctx;
    if (!ctx || this.#stopped) return false;
    const sig = await this.#signature();
    try {
      const set = await loadCertSet(this.#spec);
      const own = set.cert;
      const now = ctx.clock.now();
      if (own && (own.notAfter.getTime() <= now || own.notBefore.getTime() > now)) {
        // A certificate no peer would accept now is no replacement for the one in use.
        throw new Error(
          `${this.#spec.cert!.flag} "${
            this.#spec.cert!.path
          }" (${own.subject}, serial ${own.serial}) is valid from ${own.notBefore.toISOString()} to ${own.notAfter.toISOString()}, not now; give a current certificate`,
        );
      }
      this.#set = set;
      this.#loadedSig = sig;
      this.#refusedSig = "";
      ctx.log.info(
        "Reloaded {files} ({trigger}): {certificate}; new connections use it, established ones continue",
        {
          files: this.#fileList(),
          trigger,
          certificate: set.cert ? describe(set.cert) : describe(set.ca!),
        },
      );
      for (const fn of this.#listeners) fn(set);
      this.#checkExpiry();
      return true;
    } catch (e) {
      this.#refusedSig = sig;
      const old = this.#set!;
      const msg = `Refused the certificate files (${trigger}): ${(e as Error).message}`;
      ctx.status.error(msg);
      ctx.log.error("{message}; still using {certificate}", {
        message: msg,
        certificate: old.cert ? describe(old.cert) : describe(old.ca!),
      });
      this.#checkExpiry();
      return false;
    }
  }

  #files(): CertFile[] {
    const s = this.#spec;
    return [s.cert, s.key, s.ca].filter((f): f is CertFile => f !== undefined);
  }

  #fileList(): string {
    return this.#files().map((f) => `${f.flag} "${f.path}"`).join(", ");
  }

  /** What changes when a file is rewritten or replaced: modification time, size, inode. */
  async #signature(): Promise<string> {
    const parts: string[] = [];
    for (const f of this.#files()) {
      try {
        const s = await Deno.stat(f.path);
        parts.push(`${s.mtime?.getTime()}:${s.size}:${s.ino ?? ""}`);
      } catch (e) {
        parts.push(`error:${(e as Error).name}`);
      }
    }
    return parts.join("|");
  }

  /** The next look at the files (when watching) and at expiry (always, at least every minute). */
  #schedule(): void {
    if (this.#stopped) return;
    const ctx = this.#ctx!;
    const every = this.#options.interval > 0 ? this.#options.interval : 60_000;
    this.#timer = ctx.clock.setTimeout(() => {
      this.#busy = this.#busy.then(() => this.#tick()).catch((e) =>
        ctx.log.error("Checking the certificate files failed: {error}", {
          error: (e as Error).message,
        })
      ).finally(() => this.#schedule());
    }, every);
  }

  async #tick(): Promise<void> {
    if (this.#options.interval > 0) {
      let sig = await this.#signature();
      if (sig !== this.#loadedSig && sig !== this.#refusedSig) {
        // Wait until the files stop changing: a renewal replaces the key, then the certificate.
        const settle = Math.min(this.#options.settle ?? 1000, this.#options.interval);
        for (let i = 0; i < 10 && !this.#stopped; i++) {
          await new Promise<void>((r) => this.#ctx!.clock.setTimeout(r, settle));
          const again = await this.#signature();
          if (again === sig) break;
          sig = again;
        }
        if (!this.#stopped) await this.#reload("files changed");
      }
    }
    this.#checkExpiry();
  }

  /** Publishes the expiry points and logs what is about to expire or has. */
  #checkExpiry(): void {
    const ctx = this.#ctx!;
    const set = this.#set!;
    const now = ctx.clock.now();
    let expired: string | null = null;
    const entries = [
      ["cert", set.cert, this.#spec.cert, this.#spec.expiry.cert],
      ["ca", set.ca, this.#spec.ca, this.#spec.expiry.ca],
    ] as const;
    for (const [which, info, file, name] of entries) {
      if (!info || !file || !name) continue;
      const id = certExpiryPointId(ctx.hop, name);
      const what = `${file.flag} "${file.path}" (${info.subject}, serial ${info.serial})`;
      const hint = this.#options.hints?.[which] ?? "replace it";
      if (info.notAfter.getTime() <= now) {
        const reason = `${what} expired on ${info.notAfter.toISOString()}`;
        expired ??= reason;
        if (this.#expired.has(info.serial)) continue;
        this.#expired.add(info.serial);
        ctx.log.error("{reason}: connections that need it fail; {hint}", { reason, hint });
        ctx.apply({
          id,
          value: info.notAfter,
          type: "DateTime",
          status: Status.BadCertificateTimeInvalid,
          time: now,
          hops: [],
          cause: { hop: ctx.hop, via: this.name, since: info.notAfter.getTime(), reason },
        });
        continue;
      }
      const left = info.notAfter.getTime() - now;
      const warned = this.#warned.get(info.serial) ?? new Set<number>();
      this.#warned.set(info.serial, warned);
      const due = expiryWarningDays.filter((d) => left < d * day && !warned.has(d));
      if (due.length > 0) {
        // Only the nearest threshold is logged; the ones before it are past already.
        for (const d of due) warned.add(d);
        const days = Math.min(...due);
        ctx.log.warn(
          "{what} expires in less than {days} days, on {notAfter}; {hint}",
          { what, days, notAfter: info.notAfter.toISOString(), hint },
        );
      }
      const point = ctx.store.get(id);
      if (
        point?.status !== Status.Good ||
        !(point.value instanceof Date) || point.value.getTime() !== info.notAfter.getTime()
      ) {
        ctx.apply({
          id,
          value: info.notAfter,
          type: "DateTime",
          status: Status.Good,
          time: now,
          hops: [],
          cause: null,
        });
      }
    }
    if (expired) ctx.status.connection("down", expired);
    else ctx.status.connection("connected");
  }
}
