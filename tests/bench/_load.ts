/**
 * Load generator and measuring subscriber for the broker-chain baseline, both
 * mqtt.js clients in this process, so send and receive times share one clock.
 * A message is one point update: topic `plant1/sim/<i>`, payload 24 bytes
 * (sequence number, send time, value as little-endian float64).
 */
import { Buffer } from "node:buffer";
import mqtt, { type MqttClient } from "mqtt";
import { sleep } from "../../core/mod.ts";

/** Milliseconds on the clock both clients use. */
export const now = (): number => performance.now();

/** `count` point topics, `plant1/sim/0` … */
export function pointTopics(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `plant1/sim/${i}`);
}

function payload(seq: number, value: number): Buffer {
  const b = Buffer.allocUnsafe(24);
  b.writeDoubleLE(seq, 0);
  b.writeDoubleLE(now(), 8);
  b.writeDoubleLE(value, 16);
  return b;
}

/**
 * Opens an mqtt.js client to a broker's plain port; no automatic reconnect
 * unless asked. With reconnects, mqtt.js queues publishes (QoS 0 included)
 * while disconnected and sends them on reconnect.
 */
export async function connect(
  port: number,
  options: { reconnectMs?: number } = {},
): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: options.reconnectMs ?? 0,
    connectTimeout: 5_000,
  });
  // Connection errors while the broker is down are expected; they must not throw.
  client.on("error", () => {});
  return client;
}

/** Percentile `p` (0..1) of the first `n` values of `xs`, by sorting a copy. */
export function percentile(xs: Float64Array, n: number, p: number): number {
  if (n === 0) return NaN;
  const sorted = xs.slice(0, n).sort();
  return sorted[Math.min(n - 1, Math.floor(p * n))]!;
}

/** Counts updates, duplicates and latencies at the last broker of the chain. */
export class Subscriber {
  readonly client: MqttClient;
  received = 0;
  duplicates = 0;
  /** performance.now() of the latest update. */
  lastAt = 0;
  latencies = new Float64Array(1 << 20);
  latencyCount = 0;
  #seen = new Uint8Array(1 << 20);
  /** Messages on topics outside `plant1/` (bridge notifications), in arrival order. */
  readonly other: { topic: string; payload: string; at: number }[] = [];
  /** Latest value time per topic, to tell how stale the picture at the cloud is. */
  readonly lastByTopic = new Map<string, number>();
  /** Called for every first receipt of an update. */
  onUpdate: ((seq: number, at: number) => void) | undefined;

  constructor(client: MqttClient) {
    this.client = client;
    client.on("message", (topic, message) => {
      const at = now();
      if (!topic.startsWith("plant1/")) {
        this.other.push({ topic, payload: message.toString(), at });
        return;
      }
      const seq = message.readDoubleLE(0);
      if (seq >= this.#seen.length) this.#grow(seq);
      if (this.#seen[seq]) {
        this.duplicates++;
        return;
      }
      this.#seen[seq] = 1;
      this.received++;
      this.lastAt = at;
      this.lastByTopic.set(topic, at);
      this.onUpdate?.(seq, at);
      if (this.latencyCount < this.latencies.length) {
        this.latencies[this.latencyCount++] = at - message.readDoubleLE(8);
      }
    });
  }

  /** Whether sequence number `seq` arrived. */
  has(seq: number): boolean {
    return this.#seen[seq] === 1;
  }

  /** Forgets everything counted so far, before the next phase. */
  reset(): void {
    this.received =
      this.duplicates =
      this.latencyCount =
      this.lastAt =
        0;
    this.#seen.fill(0);
    this.other.length = 0;
    this.lastByTopic.clear();
  }

  /**
   * Waits until nothing has arrived for `quietMs` (true), or `maxMs` passed
   * with updates still arriving (false: what is missing may yet come).
   */
  async drain(quietMs = 300, maxMs = 3_000): Promise<boolean> {
    const deadline = now() + maxMs;
    let last = this.received;
    let since = now();
    while (now() < deadline) {
      await sleep(50);
      if (this.received !== last) {
        last = this.received;
        since = now();
      } else if (now() - since >= quietMs) return true;
    }
    return false;
  }

  #grow(seq: number): void {
    const bigger = new Uint8Array(Math.max(seq + 1, this.#seen.length * 2));
    bigger.set(this.#seen);
    this.#seen = bigger;
  }
}

/** Publishes point updates with increasing sequence numbers, round-robin over `topics`. */
export class Publisher {
  readonly client: MqttClient;
  readonly topics: string[];
  readonly qos: 0 | 1;
  /** Next sequence number; also the count sent so far. */
  seq = 0;

  constructor(client: MqttClient, topics: string[], qos: 0 | 1) {
    this.client = client;
    this.topics = topics;
    this.qos = qos;
  }

  /** Publishes `n` updates; resolves when the last is written (QoS 0) or acknowledged (QoS 1). */
  batch(n: number): Promise<void> {
    return new Promise((resolve) => {
      for (let i = 0; i < n; i++) {
        const seq = this.seq++;
        const topic = this.topics[seq % this.topics.length]!;
        // A failed publish (broker gone) is counted as lost at the subscriber.
        this.client.publish(
          topic,
          payload(seq, seq % 1000),
          { qos: this.qos },
          i === n - 1 ? () => resolve() : undefined,
        );
      }
      if (n === 0) resolve();
    });
  }

  /**
   * As fast as the chain carries them for `ms`, in batches of `batch`, with at
   * most `window` updates sent but not yet received by `sub`, so queues stay
   * bounded and the rate is the chain's sustained rate. When the window stays
   * full for `stallMs` (updates were dropped) it sends on regardless.
   */
  async flood(
    sub: Subscriber,
    ms: number,
    options: { batch?: number; window?: number; stallMs?: number } = {},
  ): Promise<void> {
    const { batch = 500, window = 20_000, stallMs = 100 } = options;
    const end = now() + ms;
    let dropped = 0;
    while (now() < end) {
      const waitUntil = now() + stallMs;
      while (this.seq - sub.received - dropped > window && now() < waitUntil) await sleep(1);
      if (this.seq - sub.received - dropped > window) dropped = this.seq - sub.received;
      await this.batch(batch);
    }
  }

  /** At `perS` updates/s for `ms`, topping up to the schedule every millisecond or so. */
  async paced(perS: number, ms: number, signal?: AbortSignal): Promise<void> {
    const start = now();
    const first = this.seq;
    for (;;) {
      const t = now() - start;
      if (t >= ms || signal?.aborted) return;
      const due = Math.floor(t * perS / 1000) - (this.seq - first);
      if (due > 0) {
        // Do not wait for acknowledgements: a paced source keeps its rate.
        void this.batch(due);
      }
      await sleep(1);
    }
  }
}
