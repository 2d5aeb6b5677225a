/**
 * `--mqtt-format json`: one retained message per point on
 * `<prefix>/<point id>`, or batches (arrays) on one topic for brokers that
 * limit message rates or fix the topic (Azure IoT Hub). Writes arrive on
 * `<prefix>/<point id>/set` and their result goes to `<prefix>/<point id>/set/result`.
 */
import { copyPoint, type Point, Status, type StatusCode, statusName } from "../../core/mod.ts";
import {
  chunkBySize,
  type FormatContext,
  type MqttFormat,
  type MqttSession,
  type OutMessage,
  utf8Length,
} from "./mqtt_format.ts";
import { pointToJson, valueFromJson, valueToJson } from "./point_json.ts";

/** Deepest point id (in segments) whose `/set` topic is subscribed to. */
const maxSetDepth = 12;

/** The JSON payload format. */
export class JsonFormat implements MqttFormat {
  #f: FormatContext;
  #prefix: string;

  constructor(f: FormatContext) {
    this.#f = f;
    this.#prefix = f.ctx.config.mqttPrefix;
  }

  will(): OutMessage | undefined {
    return undefined;
  }

  subscriptions(): string[] {
    if (this.#f.effective.batch && this.#f.ctx.config.mqttPreset === "azure-iot-hub") return [];
    // `+` levels rather than `#`, so the bridge does not receive its own data messages.
    const subs: string[] = [];
    for (let depth = 2; depth <= maxSetDepth; depth++) {
      subs.push(`${this.#prefix}/${Array(depth).fill("+").join("/")}/set`);
    }
    return subs;
  }

  online(session: MqttSession): Promise<void> {
    session.ready = true;
    return Promise.resolve();
  }

  caughtUp(session: MqttSession): Promise<void> {
    const points: Point[] = [];
    for (const p of this.#f.ctx.store.values()) points.push(copyPoint(p, []));
    return this.publish(session, points, false);
  }

  async publish(session: MqttSession, points: Point[], historical: boolean): Promise<void> {
    const { effective } = this.#f;
    const qos = this.#f.qos;
    if (effective.batch) {
      const enc = (chunk: Point[]) => JSON.stringify(chunk.map((p) => pointToJson(p, historical)));
      const chunks = chunkBySize(points, effective.maxPayload, (c) => utf8Length(enc(c)));
      for (const chunk of chunks) {
        await session.publish({
          topic: effective.batchTopic,
          payload: enc(chunk),
          qos,
          retain: false,
        });
      }
      return;
    }
    const window: Promise<void>[] = [];
    for (const p of points) {
      window.push(session.publish({
        topic: `${this.#prefix}/${p.id}`,
        payload: JSON.stringify(pointToJson(p, historical)),
        qos,
        retain: effective.retain,
      }));
      // Bounded windows: mqtt.js slows down quadratically with many publishes outstanding.
      if (window.length >= 500) await Promise.all(window.splice(0));
    }
    await Promise.all(window);
  }

  async message(session: MqttSession, topic: string, payload: Uint8Array): Promise<void> {
    const prefix = `${this.#prefix}/`;
    if (!topic.startsWith(prefix) || !topic.endsWith("/set")) return;
    const id = topic.slice(prefix.length, -"/set".length);
    const { ctx } = this.#f;
    let status: StatusCode;
    let problem: string | undefined;
    const point = ctx.store.get(id);
    // Several hops may share a prefix: a point this hop does not hold is another's to answer.
    if (!point) {
      ctx.log.debug("Ignoring a write to {id}, which this hop does not hold", { id });
      return;
    } else {
      try {
        const text = new TextDecoder().decode(payload);
        const body = JSON.parse(text) as unknown;
        const raw = body !== null && typeof body === "object" && !Array.isArray(body) &&
            "value" in body
          ? (body as { value: unknown }).value
          : body;
        const value = valueFromJson(point.type, raw);
        status = await ctx.write({ id, value, via: [] });
      } catch (e) {
        status = Status.BadTypeMismatch;
        problem = (e as Error).message;
      }
    }
    const now = ctx.store.get(id);
    const result: Record<string, unknown> = {
      id,
      code: status >>> 0,
      status: statusName(status),
      value: now ? valueToJson(now.value) : null,
    };
    if (problem) result.problem = problem;
    ctx.log.info("MQTT write to {id}: {status}", { id, status: statusName(status) });
    await session.publish({
      topic: `${topic}/result`,
      payload: JSON.stringify(result),
      qos: this.#f.qos,
      retain: false,
    });
  }

  goodbye(): Promise<void> {
    return Promise.resolve();
  }
}
