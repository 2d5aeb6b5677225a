/**
 * One MQTT connection attempt and, when it succeeds, the session over it.
 * A fresh mqtt.js client per attempt (its own reconnect is off) so that each
 * attempt carries its own will (Sparkplug bdSeq) and nothing published in an
 * old session is replayed ahead of a new session's births.
 */
import { Buffer } from "node:buffer";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { MqttSession, OutMessage } from "./mqtt_format.ts";

/** How one attempt ended: a live session, or the error that prevented it. */
export type AttemptResult = { session: Session } | { error: unknown };

/** A connected MQTT session. */
export class Session implements MqttSession {
  ready = false;
  readonly closed: Promise<string>;
  #client: MqttClient;
  #isClosed = false;
  #waiters = new Set<(e: Error) => void>();
  #onRestart: (reason: string) => void;
  #closeReason = "connection closed";

  constructor(client: MqttClient, onRestart: (s: Session, reason: string) => void) {
    this.#client = client;
    this.#onRestart = (reason) => onRestart(this, reason);
    let lastError = "";
    client.on("error", (e) => lastError = (e as Error).message);
    this.closed = new Promise((resolve) => {
      client.once("close", () => {
        this.#isClosed = true;
        this.ready = false;
        const err = new Error(this.#closeReason);
        for (const w of this.#waiters) w(err);
        this.#waiters.clear();
        resolve(lastError || this.#closeReason);
      });
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** The underlying client, for message handlers. */
  get client(): MqttClient {
    return this.#client;
  }

  publish(m: OutMessage): Promise<void> {
    if (this.#isClosed) return Promise.reject(new Error(this.#closeReason));
    return new Promise((resolve, reject) => {
      this.#waiters.add(reject);
      const payload = typeof m.payload === "string"
        ? m.payload
        : Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
      this.#client.publish(m.topic, payload, { qos: m.qos, retain: m.retain }, (err) => {
        this.#waiters.delete(reject);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  async subscribe(topics: string[]): Promise<void> {
    if (topics.length === 0) return;
    const granted = await this.#client.subscribeAsync(topics, { qos: 1 });
    const refused = granted.filter((g) => g.qos >= 128).map((g) => g.topic);
    if (refused.length > 0) {
      throw new Error(`the broker refused subscriptions to ${refused.join(", ")}`);
    }
  }

  restart(reason: string): void {
    this.#onRestart(reason);
  }

  /** Closes the connection; `reason` is what waiting publishes fail with. */
  async end(reason: string, force = false): Promise<void> {
    this.#closeReason = reason;
    await this.#client.endAsync(force).catch(() => {});
  }
}

/**
 * Connects once; resolves when the broker accepted the session or the
 * attempt failed (with the last error mqtt.js or TLS reported).
 */
export function attempt(
  url: URL,
  options: IClientOptions,
  onRestart: (s: Session, reason: string) => void,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<AttemptResult> {
  return new Promise((resolve) => {
    let lastError: unknown = null;
    let settled = false;
    const client = mqtt.connect(url.href, {
      ...options,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      queueQoSZero: false,
      resubscribe: false,
      // mqtt-packet otherwise fills a table of 65,536 two-byte buffers (every
      // message id and length it may write) at the first packet: 7.4 MB of an MQTT
      // hop's heap (a heap snapshot, quiet at 100,000 points), to save a small buffer per
      // number written, two per publish of a batch.
      writeCache: false,
    });
    const settle = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    // A guard in case neither connect nor close ever comes.
    const timer = setTimeout(() => {
      client.end(true);
      settle({ error: lastError ?? new Error(`no answer within ${timeoutMs} ms (timed out)`) });
    }, timeoutMs + 2000);
    const session = new Session(client, onRestart);
    client.on("error", (e) => lastError = e);
    client.once("connect", () => settle({ session }));
    // A stopping hop does not wait for a slow or silent broker.
    signal?.addEventListener("abort", () => {
      client.end(true);
      settle({ error: new Error("stopped while connecting") });
    }, { once: true });
    client.once("close", () => {
      settle({
        error: lastError ?? new Error("the broker closed the connection before accepting it"),
      });
    });
  });
}
