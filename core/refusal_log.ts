/**
 * Refusals logged so that an attacker cannot fill the disk: the first refusal
 * of each reason in an interval gets a full line with its address, later ones
 * are only counted, and one summary line per interval says how many there
 * were, why, and from where. Memory stays bounded however many addresses
 * the refusals come from.
 */
import type { Clock, TimerId } from "./clock.ts";

/** Where refusal lines go: a hop's logger, or a test's recorder. */
export interface RefusalSink {
  /** Writes one line; `message` is a template filled from `properties`. */
  warn(message: string, properties: Record<string, unknown>): void;
}

/** One refused connection or link. */
export interface Refusal {
  /** A fixed label that groups refusals in the summary, never text from the peer. */
  reason: string;
  /** The remote address. */
  remote: string;
  /** Why, in full, for the first line of its reason in an interval; it may quote the peer. */
  detail: string;
  /**
   * What was refused: a connection (before authentication, the default), a
   * link (after), or a login (a session's user or certificate, on a server).
   */
  what?: "connection" | "link" | "login";
}

/** Timing and bounds of a refusal log. */
export interface RefusalLogOptions {
  /** Where the lines go. */
  log: RefusalSink;
  /** The hop's clock, which times the intervals. */
  clock: Clock;
  /** Milliseconds an interval lasts, from its first refusal (default 10 s). */
  interval?: number;
  /** Addresses a summary names, the most refused first (default 5). */
  named?: number;
  /** Distinct addresses counted in one interval (default 1,000); refusals from others are only totalled. */
  tracked?: number;
}

/** Distinct reasons one interval keeps apart; more are counted as "other reasons". */
const maxReasons = 32;

/** Logs refusals, a full line for the first of each reason per interval and a summary of the rest. */
export class RefusalLog {
  #log: RefusalSink;
  #clock: Clock;
  #interval: number;
  #named: number;
  #tracked: number;
  #timer: TimerId | null = null;
  #since = 0;
  /** Reasons seen in this interval, each with how many of its refusals went unlogged. */
  #reasons = new Map<string, number>();
  /** Unlogged refusals per address in this interval, for at most `tracked` addresses. */
  #addresses = new Map<string, number>();
  /** Unlogged refusals from addresses beyond `tracked`. */
  #untracked = 0;
  #unlogged = 0;
  #total = 0;
  /** Refusals since this log was made, by reason (at most `maxReasons`, then "other reasons"). */
  #byReason = new Map<string, number>();

  /** A log with nothing refused yet. */
  constructor(options: RefusalLogOptions) {
    this.#log = options.log;
    this.#clock = options.clock;
    this.#interval = options.interval ?? 10_000;
    this.#named = options.named ?? 5;
    this.#tracked = options.tracked ?? 1_000;
  }

  /** Refusals since this log was made, logged or not. */
  get total(): number {
    return this.#total;
  }

  /** Refusals since this log was made, by reason, for the status endpoint. */
  byReason(): Record<string, number> {
    return Object.fromEntries(this.#byReason);
  }

  /** Records a refusal: logged in full if it is the first of its reason in the interval, else counted. */
  refuse(r: Refusal): void {
    this.#total++;
    const key = this.#byReason.has(r.reason) || this.#byReason.size < maxReasons
      ? r.reason
      : "other reasons";
    this.#byReason.set(key, (this.#byReason.get(key) ?? 0) + 1);
    if (this.#timer === null) {
      this.#since = this.#clock.now();
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = null;
        this.flush();
      }, this.#interval);
    }
    let reason = r.reason;
    if (!this.#reasons.has(reason)) {
      if (this.#reasons.size < maxReasons) {
        this.#reasons.set(reason, 0);
        const template = r.what === "link"
          ? "Refused a link from {remote}: {detail}"
          : r.what === "login"
          ? "Refused a login from {remote}: {detail}"
          : "Refused a connection from {remote}: {detail}";
        this.#log.warn(template, { remote: r.remote, detail: r.detail, reason });
        return;
      }
      reason = "other reasons";
    }
    this.#reasons.set(reason, (this.#reasons.get(reason) ?? 0) + 1);
    this.#unlogged++;
    const n = this.#addresses.get(r.remote);
    if (n !== undefined) this.#addresses.set(r.remote, n + 1);
    else if (this.#addresses.size < this.#tracked) this.#addresses.set(r.remote, 1);
    else this.#untracked++;
  }

  /** Ends the interval now: logs its summary if any refusal went unlogged (at stop, and by the timer). */
  flush(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#unlogged > 0) this.#summarise();
    this.#reasons.clear();
    this.#addresses.clear();
    this.#untracked = 0;
    this.#unlogged = 0;
  }

  #summarise(): void {
    const seconds = Math.max(1, Math.round((this.#clock.now() - this.#since) / 1000));
    const byReason = [...this.#reasons].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    const top = [...this.#addresses].sort((a, b) => b[1] - a[1]);
    const named = top.slice(0, this.#named).map(([a, n]) => `${a} ×${n}`);
    const distinct = top.length;
    let sources: string;
    if (this.#untracked > 0) {
      sources = `more than ${distinct} addresses: ${named.join(", ")} and others`;
    } else if (distinct === 1) {
      sources = named[0]!;
    } else {
      const rest = distinct - named.length;
      sources = `${distinct} addresses: ${named.join(", ")}${rest > 0 ? ` and ${rest} more` : ""}`;
    }
    this.#log.warn(
      "Refused {count} more connections in the last {seconds} s ({reasons}) from {sources}",
      {
        count: this.#unlogged,
        seconds,
        reasons: byReason.map(([r, n]) => `${n} ${r}`).join(", "),
        sources,
        byReason: Object.fromEntries(byReason),
        addresses: distinct,
        untracked: this.#untracked,
      },
    );
  }
}
