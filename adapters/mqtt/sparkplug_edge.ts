/**
 * `--mqtt-format sparkplug`: the hop as a Sparkplug B 3.0 edge node. One
 * Sparkplug device per source (the first two segments of a point id, joined
 * by ":" because a device id cannot hold "/"), the rest of the id as the
 * metric name. NBIRTH/DBIRTH carry every metric with name, alias, datatype and
 * value; DDATA uses aliases; seq runs 0–255 over every message but NDEATH;
 * bdSeq counts connection attempts and is kept in the data directory so it
 * keeps counting across restarts; NDEATH is the will. A device all of whose
 * points lost their source gets DDEATH, and a DBIRTH when one comes back.
 * What it keeps per point lives only as long as the point: a removed point is
 * forgotten at once (its device is born again without it, or dies when none
 * is left), and aliases count up and are never given out twice, so a host
 * never sees one alias stand for two metrics.
 */
import { join } from "node:path";
import {
  copyPoint,
  isGood,
  isUncertain,
  type Point,
  Status,
  type StatusCode,
  statusName,
  type StoredPoint,
} from "../../core/mod.ts";
import {
  chunkBySize,
  type FormatContext,
  type MqttFormat,
  type MqttSession,
  type OutMessage,
  type OutPoint,
} from "./mqtt_format.ts";
import {
  decodePayload,
  encodeMetrics,
  encodePayload,
  metricValue,
  type OutMetric,
  type OutProperty,
} from "./sparkplug_codec.ts";

const ns = "spBv1.0";
/** A device with new metrics is reborn once none arrived for this long (ms)… */
const birthSettleMs = 250;
/** …or this long after the first of them (ms). */
const birthMaxWaitMs = 2000;
const rebirthMetric = "Node Control/Rebirth";

/** The Sparkplug device and metric name of a point id. */
export function sparkplugName(id: string): { device: string; metric: string } {
  const s = id.split("/");
  if (s.length >= 3) return { device: `${s[0]}:${s[1]}`, metric: s.slice(2).join("/") };
  return { device: s[0]!, metric: s.slice(1).join("/") || s[0]! };
}

/**
 * Sparkplug Quality of an OPC UA status: 192 good, 64 uncertain, 0 bad (the
 * OPC DA quality bits that Sparkplug hosts such as Ignition read).
 */
export function sparkplugQuality(status: StatusCode): number {
  return isGood(status) ? 192 : isUncertain(status) ? 64 : 0;
}

/** True when the point's source or an upstream link is lost. */
function lost(p: Point): boolean {
  return p.cause !== null || p.status === Status.BadNoCommunication ||
    p.status === Status.UncertainNoCommunicationLastUsableValue;
}

/**
 * One device's share of a publish: its first `n` points with their aliases
 * and properties, in order. Each device keeps one and fills it again at each
 * publish, as its arrays (up to 50,000 entries, a publish step) would
 * otherwise be made anew in the large-object space every step and wait there
 * for a mark-compact; the points are let go once encoded.
 */
interface DeviceBatch {
  points: (Point | undefined)[];
  aliases: number[];
  props: (OutProperty[] | undefined)[];
  n: number;
  historical: boolean;
}

/** A tracked metric: its device and alias. */
interface Known {
  id: string;
  /** The point's store slot when it was tracked (-1: not known), where `#bySlot` holds it. */
  slot: number;
  device: Device;
  /** The metric's alias: aliases count up from 1 and are never reused, not even after a removal. */
  alias: number;
  /** In its device's last DBIRTH: DDATA may carry it. */
  declared: boolean;
}

interface Device {
  id: string;
  /** Point id → metric name. */
  metrics: Map<string, string>;
  /** Metric name → point id, for commands. */
  byName: Map<string, string>;
  lost: Set<string>;
  born: boolean;
  /** A metric was added since the last DBIRTH. */
  dirty: boolean;
  /** When a metric was last added, and when the first one since the last DBIRTH was (0: none). */
  grewAt: number;
  dirtySince: number;
  /** This device's share of the publish under way. */
  batch: DeviceBatch;
}

/** The Sparkplug B edge node format. */
export class SparkplugEdge implements MqttFormat {
  #f: FormatContext;
  #group: string;
  #node: string;
  #bdSeqFile: string;
  #bdSeq: number;
  #seq = 0;
  /** The alias of the next new metric. */
  #nextAlias = 1;
  /** Point id by alias, for commands (present exactly while `#known` has the id). */
  #byAlias = new Map<number, string>();
  #devices = new Map<string, Device>();
  /**
   * Each tracked metric's device and alias by point id (present exactly while
   * the device's `metrics` has the id), so the hot path takes one lookup.
   */
  #known = new Map<string, Known>();
  /**
   * The same by the store slot of each live change's point (`OutPoint.slot`),
   * which the hot path reads instead of `#known`: an array access in the order
   * the points mostly change, where each map lookup missed the CPU's caches.
   */
  #bySlot: (Known | undefined)[] = [];
  /** Points whose last published status was not good (so a return to good is announced). */
  #notGood = new Set<string>();
  #primary: string | undefined;
  /** NBIRTH was published in the current session and no NDEATH since. */
  #born = false;

  constructor(f: FormatContext) {
    this.#f = f;
    this.#group = f.ctx.config.mqttGroup;
    this.#node = f.ctx.config.mqttEdgeNode;
    this.#primary = f.ctx.config.mqttPrimaryHost;
    this.#bdSeqFile = join(f.ctx.config.dataDir, "mqtt", "bdseq");
    let last = -1;
    try {
      last = Number(Deno.readTextFileSync(this.#bdSeqFile).trim());
    } catch { /* first run */ }
    this.#bdSeq = Number.isInteger(last) && last >= 0 && last <= 255 ? last : -1;
  }

  #topic(type: string, device?: string): string {
    return `${ns}/${this.#group}/${type}/${this.#node}${device ? `/${device}` : ""}`;
  }

  #nextSeq(): number {
    const s = this.#seq;
    this.#seq = (this.#seq + 1) % 256;
    return s;
  }

  #death(): Uint8Array {
    return encodePayload({
      timestamp: this.#f.ctx.clock.now(),
      metrics: [{ name: "bdSeq", type: "UInt64", value: BigInt(this.#bdSeq) }],
    });
  }

  will(): OutMessage {
    // bdSeq counts connection attempts (0–255), each with its own will.
    this.#bdSeq = (this.#bdSeq + 1) % 256;
    try {
      Deno.mkdirSync(join(this.#f.ctx.config.dataDir, "mqtt"), { recursive: true });
      Deno.writeTextFileSync(this.#bdSeqFile, `${this.#bdSeq}\n`);
    } catch (e) {
      this.#f.ctx.log.warn("Cannot keep bdSeq in {file}: {error}", {
        file: this.#bdSeqFile,
        error: (e as Error).message,
      });
    }
    return { topic: this.#topic("NDEATH"), payload: this.#death(), qos: 1, retain: false };
  }

  subscriptions(): string[] {
    const subs = [this.#topic("NCMD"), `${this.#topic("DCMD")}/+`];
    if (this.#primary) subs.push(`${ns}/STATE/${this.#primary}`);
    return subs;
  }

  async online(session: MqttSession): Promise<void> {
    this.#born = false;
    for (const d of this.#devices.values()) d.born = false;
    // With a primary host, births wait for its STATE message (retained, so it comes at once).
    if (this.#primary) return;
    await this.#birth(session);
    session.ready = true;
  }

  #properties(p: Point, force: boolean): OutProperty[] | undefined {
    if (isGood(p.status)) {
      const wasNotGood = this.#notGood.size > 0 && this.#notGood.delete(p.id);
      if (!wasNotGood && !force) return undefined;
      return [{ key: "Quality", type: "Int32", value: 192 }];
    }
    this.#notGood.add(p.id);
    const props: OutProperty[] = [
      { key: "Quality", type: "Int32", value: sparkplugQuality(p.status) },
      { key: "StatusCode", type: "UInt32", value: p.status >>> 0 },
    ];
    if (p.cause) {
      props.push({
        key: "Cause",
        type: "String",
        value: `${p.cause.hop} lost ${p.cause.via} at ${
          new Date(p.cause.since).toISOString()
        }: ${p.cause.reason}`,
      });
    }
    return props;
  }

  /**
   * Entries in the per-point tables, for tests and leak hunts: each stays
   * within the points in the store (plus, for `devices`, devices emptied by
   * removals whose DDEATH is not out yet).
   */
  get sizes(): {
    known: number;
    aliases: number;
    devices: number;
    metrics: number;
    names: number;
    lost: number;
    notGood: number;
    slots: number;
  } {
    let metrics = 0, names = 0, lost = 0;
    for (const d of this.#devices.values()) {
      metrics += d.metrics.size;
      names += d.byName.size;
      lost += d.lost.size;
    }
    return {
      known: this.#known.size,
      aliases: this.#byAlias.size,
      devices: this.#devices.size,
      metrics,
      names,
      lost,
      notGood: this.#notGood.size,
      slots: this.#bySlot.reduce((n, k) => k === undefined ? n : n + 1, 0),
    };
  }

  /**
   * A point left the store: everything kept of it goes, its alias for good.
   * Its device's current DBIRTH still declares it, so the device is born
   * again without it once removals settle, or gets DDEATH when it has no
   * metric left (see `tick`).
   */
  removed(id: string): void {
    if (this.#notGood.size > 0) this.#notGood.delete(id);
    const k = this.#known.get(id);
    if (k === undefined) return;
    this.#forget(id, k);
    const d = k.device;
    if (d.metrics.size === 0 && !d.born) {
      this.#devices.delete(d.id);
    } else if (d.born) {
      this.#changed(d);
    }
  }

  /** Drops a tracked point from every table. */
  #forget(id: string, k: Known): void {
    const d = k.device;
    const name = d.metrics.get(id);
    d.metrics.delete(id);
    if (name !== undefined && d.byName.get(name) === id) d.byName.delete(name);
    if (d.lost.size > 0) d.lost.delete(id);
    this.#known.delete(id);
    this.#byAlias.delete(k.alias);
    if (k.slot >= 0 && this.#bySlot[k.slot] === k) this.#bySlot[k.slot] = undefined;
  }

  /** The device's metric set changed since its DBIRTH: a new one is due once changes settle. */
  #changed(d: Device): void {
    d.dirty = true;
    d.grewAt = this.#f.ctx.clock.now();
    if (d.dirtySince === 0) d.dirtySince = d.grewAt;
  }

  /**
   * Tracks a point's device; returns its entry, or undefined for a point
   * the store no longer holds (an update queued before its removal), which
   * no birth will declare.
   */
  #track(p: OutPoint): Known | undefined {
    const slot = p.slot ?? -1;
    let k = slot >= 0 ? this.#bySlot[slot] : undefined;
    // A slot's entry may be an earlier point's (slots go to new points): the id decides.
    if (k === undefined || k.id !== p.id) k = this.#known.get(p.id);
    if (k === undefined) {
      if (this.#f.ctx.store.get(p.id) === undefined) return undefined;
      const { device, metric } = sparkplugName(p.id);
      let d = this.#devices.get(device);
      if (!d) {
        d = {
          id: device,
          metrics: new Map(),
          byName: new Map(),
          lost: new Set(),
          born: false,
          dirty: false,
          grewAt: 0,
          dirtySince: 0,
          batch: { points: [], aliases: [], props: [], n: 0, historical: false },
        };
        this.#devices.set(device, d);
      }
      k = { id: p.id, slot: -1, device: d, alias: this.#nextAlias++, declared: false };
      this.#known.set(p.id, k);
      this.#byAlias.set(k.alias, p.id);
      d.metrics.set(p.id, metric);
      d.byName.set(metric, p.id);
      this.#changed(d);
    }
    if (slot >= 0 && k.slot !== slot) {
      if (k.slot >= 0 && this.#bySlot[k.slot] === k) this.#bySlot[k.slot] = undefined;
      k.slot = slot;
      // Filled up to the slot rather than assigned far past the end, which V8 would answer with
      // a sparse (dictionary) array.
      const by = this.#bySlot;
      while (by.length <= slot) by.push(undefined);
      by[slot] = k;
    }
    const d = k.device;
    if (lost(p)) d.lost.add(p.id);
    else if (d.lost.size > 0) d.lost.delete(p.id);
    return k;
  }

  /** NBIRTH and a DBIRTH for every device that is not lost; seq starts over at 0. */
  async #birth(session: MqttSession): Promise<void> {
    const { ctx } = this.#f;
    for (const d of this.#devices.values()) {
      d.born = false;
      d.lost.clear();
    }
    for (const p of ctx.store.values()) this.#track(p);
    // Devices whose every point was removed while no session was up.
    for (const d of this.#devices.values()) {
      if (d.metrics.size === 0) this.#devices.delete(d.id);
    }
    this.#seq = 0;
    await session.publish({
      topic: this.#topic("NBIRTH"),
      payload: encodePayload({
        timestamp: ctx.clock.now(),
        seq: this.#nextSeq(),
        metrics: [
          { name: "bdSeq", type: "UInt64", value: BigInt(this.#bdSeq) },
          { name: rebirthMetric, type: "Boolean", value: false },
        ],
      }),
      qos: 0,
      retain: false,
    });
    for (const d of this.#devices.values()) {
      if (d.lost.size < d.metrics.size) await this.#deviceBirth(session, d);
    }
    this.#born = true;
    ctx.log.info("Sparkplug NBIRTH (bdSeq {bdSeq}) with {devices} devices", {
      bdSeq: this.#bdSeq,
      devices: [...this.#devices.values()].filter((d) => d.born).length,
    });
  }

  async #deviceBirth(session: MqttSession, d: Device): Promise<void> {
    const { ctx } = this.#f;
    const metrics: OutMetric[] = [];
    for (const [id, name] of d.metrics) {
      const p = ctx.store.get(id);
      const k = this.#known.get(id)!;
      if (!p) {
        // Removed from the store (`removed` normally forgot it already): gone from the device,
        // and from its lost points too (else a device whose removed points were lost when they
        // went would count as all lost, and die).
        this.#forget(id, k);
        continue;
      }
      const m: OutMetric = {
        name,
        alias: k.alias,
        timestamp: p.time,
        type: p.type,
        value: p.value,
      };
      const props = this.#properties(p, false);
      if (props) m.properties = props;
      metrics.push(m);
      k.declared = true;
    }
    const payload = encodePayload({ timestamp: ctx.clock.now(), seq: this.#nextSeq(), metrics });
    const max = this.#f.effective.maxPayload;
    if (max > 0 && payload.length > max) {
      ctx.log.error(
        "DBIRTH of {device} is {size} bytes, above --mqtt-max-payload {max}: a birth cannot be split; the broker may refuse it",
        { device: d.id, size: payload.length, max },
      );
    }
    d.born = true;
    d.dirty = false;
    d.dirtySince = 0;
    await session.publish({ topic: this.#topic("DBIRTH", d.id), payload, qos: 0, retain: false });
  }

  /**
   * Publishes a device's DDATA (chunks of at most 1,000 metrics, and under
   * --mqtt-max-payload) without waiting: the caller awaits every device's
   * together, so devices do not each cost a round trip.
   */
  #data(session: MqttSession, d: Device, batch: DeviceBatch, out: Promise<void>[]): void {
    const now = this.#f.ctx.clock.now();
    const { points, aliases, props, n } = batch;
    const historical = batch.historical;
    // One metric object, refilled for each point as it is written.
    const m: OutMetric = { alias: 0, timestamp: 0, type: "Double", value: null };
    const fill = (i: number): OutMetric => {
      const p = points[i]!;
      m.alias = aliases[i]!;
      m.timestamp = p.time;
      m.type = p.type;
      m.value = p.value;
      if (historical) m.historical = true;
      const pr = props[i];
      if (pr) m.properties = pr;
      else delete m.properties;
      return m;
    };
    const encodeRange = (from: number, to: number, seq: number) =>
      encodeMetrics(now, seq, to - from, (i) => fill(from + i));
    const max = this.#f.effective.maxPayload;
    const ranges: [number, number][] = [];
    if (max <= 0) {
      for (let from = 0; from < n; from += 1000) ranges.push([from, Math.min(n, from + 1000)]);
    } else {
      // Measured with the largest seq; the real seq is taken in publish order below.
      const index = Array.from({ length: n }, (_, i) => i);
      const chunks = chunkBySize(index, max, (c) => encodeRange(c[0]!, c.at(-1)! + 1, 255).length);
      for (const c of chunks) ranges.push([c[0]!, c.at(-1)! + 1]);
    }
    for (const [from, to] of ranges) {
      out.push(session.publish({
        topic: this.#topic("DDATA", d.id),
        payload: encodeRange(from, to, this.#nextSeq()),
        qos: this.#f.qos,
        retain: false,
      }));
    }
  }

  /**
   * Whether a device that is unborn or has new metrics should get its DBIRTH
   * now. A DBIRTH carries every metric of the device, so while metrics keep
   * arriving (a new hop's snapshot, a PLC being browsed) it waits until none
   * came for `birthSettleMs`, or `birthMaxWaitMs` after the first: a 100,000
   * point device arriving over a second was born ten times, with 354,000
   * metrics in all. Meanwhile its declared metrics go on in DDATA.
   */
  #birthDue(d: Device): boolean {
    const now = this.#f.ctx.clock.now();
    return now - d.grewAt >= birthSettleMs || now - d.dirtySince >= birthMaxWaitMs;
  }

  async tick(session: MqttSession): Promise<void> {
    if (!session.ready || !this.#born) return;
    for (const d of this.#devices.values()) {
      if (d.metrics.size === 0) {
        // Every point of a born device was removed: it dies, and is forgotten.
        this.#devices.delete(d.id);
        if (d.born) await this.#deviceDeath(session, d, "its points were removed");
        continue;
      }
      if ((d.born && !d.dirty) || d.lost.size >= d.metrics.size) continue;
      if (this.#birthDue(d)) await this.#deviceBirth(session, d);
    }
  }

  caughtUp(): Promise<void> {
    // The births already carried every metric's current value.
    return Promise.resolve();
  }

  async publish(session: MqttSession, points: OutPoint[], historical: boolean): Promise<void> {
    const byDevice = new Map<Device, DeviceBatch>();
    const filled: DeviceBatch[] = [];
    const touched = new Set<Device>();
    // Consecutive points mostly share a device: its batch is looked up only on a change.
    let last: Device | null = null;
    let batch: DeviceBatch | null = null;
    for (const p of points) {
      let k: Known | undefined;
      if (historical) {
        k = this.#known.get(p.id);
        // History is only sent for metrics the current births declared.
        if (!k?.device.born || !k.declared) continue;
      } else {
        k = this.#track(p);
        if (k === undefined) continue;
        if (k.device !== last) touched.add(k.device);
        // Metrics added since the device's DBIRTH wait for the next one, which carries them.
        if (!k.device.born || !k.declared) continue;
      }
      const d = k.device;
      if (d !== last || batch === null) {
        last = d;
        batch = byDevice.get(d) ?? null;
        if (batch === null) {
          batch = d.batch;
          batch.n = 0;
          batch.historical = historical;
          byDevice.set(d, batch);
          filled.push(batch);
        }
      }
      // The arrays never shrink, so `i` is at most their length: a write there appends.
      const i = batch.n++;
      batch.points[i] = p;
      batch.aliases[i] = k.alias;
      batch.props[i] = this.#properties(p, false);
    }
    for (const d of touched) {
      const allLost = d.lost.size >= d.metrics.size;
      if (allLost && d.born) {
        byDevice.delete(d);
        await this.#deviceDeath(session, d, "its source is lost");
      } else if (!allLost && (!d.born || d.dirty) && this.#birthDue(d)) {
        byDevice.delete(d);
        await this.#deviceBirth(session, d);
      }
    }
    const sent: Promise<void>[] = [];
    for (const [d, b] of byDevice) {
      if (d.born) this.#data(session, d, b, sent);
    }
    // Encoded: the batches hold none of the points until the next publish fills them.
    for (const b of filled) {
      b.points.fill(undefined, 0, b.n);
      b.props.fill(undefined, 0, b.n);
    }
    await Promise.all(sent);
  }

  /** DDEATH of a born device; it is born again (DBIRTH) when it has metrics to declare. */
  async #deviceDeath(session: MqttSession, d: Device, why: string): Promise<void> {
    d.born = false;
    this.#f.ctx.log.info("Sparkplug DDEATH of {device}: {why}", { device: d.id, why });
    await session.publish({
      topic: this.#topic("DDEATH", d.id),
      payload: encodePayload({
        timestamp: this.#f.ctx.clock.now(),
        seq: this.#nextSeq(),
        metrics: [],
      }),
      qos: this.#f.qos,
      retain: false,
    });
  }

  async message(session: MqttSession, topic: string, payload: Uint8Array): Promise<void> {
    const { ctx } = this.#f;
    if (this.#primary && topic === `${ns}/STATE/${this.#primary}`) {
      let online = false;
      try {
        online = (JSON.parse(new TextDecoder().decode(payload)) as { online?: unknown }).online ===
          true;
      } catch { /* not Sparkplug 3.0 STATE JSON: treated as offline */ }
      if (online && !session.ready) {
        ctx.log.info("Primary host {host} is online", { host: this.#primary });
        await this.#birth(session);
        session.ready = true;
      } else if (!online && session.ready) {
        ctx.log.warn("Primary host {host} went offline; reconnecting and buffering meanwhile", {
          host: this.#primary,
        });
        session.ready = false;
        session.restart("primary host offline");
      }
      return;
    }
    let p;
    try {
      p = decodePayload(payload);
    } catch (e) {
      ctx.log.warn("Ignoring a command on {topic} that is not a Sparkplug payload: {error}", {
        topic,
        error: (e as Error).message,
      });
      return;
    }
    if (topic === this.#topic("NCMD")) {
      if (p.metrics.some((m) => m.name === rebirthMetric && m.raw === true)) {
        ctx.log.info("Sparkplug rebirth requested");
        if (session.ready) await this.#birth(session);
      }
      return;
    }
    const prefix = `${this.#topic("DCMD")}/`;
    if (!topic.startsWith(prefix)) return;
    const d = this.#devices.get(topic.slice(prefix.length));
    if (!d?.born) return;
    const results: DeviceBatch = { points: [], aliases: [], props: [], n: 0, historical: false };
    for (const m of p.metrics) {
      const id = m.alias !== undefined
        ? this.#byAlias.get(Number(m.alias))
        : d.byName.get(m.name ?? "");
      const k = id !== undefined ? this.#known.get(id) : undefined;
      const point = k?.device === d ? ctx.store.get(id!) : undefined;
      if (!k || !point) {
        ctx.log.warn("DCMD for unknown metric {metric} of {device}", {
          metric: m.name ?? String(m.alias),
          device: d.id,
        });
        continue;
      }
      let status: StatusCode;
      try {
        status = await ctx.write({ id: point.id, value: metricValue(m, point.type), via: [] });
      } catch (e) {
        ctx.log.warn("DCMD for {id} has a value of the wrong type: {error}", {
          id: point.id,
          error: (e as Error).message,
        });
        status = Status.BadTypeMismatch;
      }
      const now: StoredPoint = ctx.store.get(point.id) ?? point;
      results.points.push(copyPoint(now));
      results.n++;
      // The alias taken before the write: the point may have been removed meanwhile.
      results.aliases.push(k.alias);
      const props = this.#properties(now, true) ?? [];
      // Removed during the write: its not-good mark is not kept either.
      if (ctx.store.get(point.id) === undefined) this.#notGood.delete(point.id);
      results.props.push([
        ...props,
        { key: "WriteStatus", type: "String", value: statusName(status) },
        { key: "WriteStatusCode", type: "UInt32", value: status >>> 0 },
      ]);
    }
    if (results.n > 0 && session.ready && d.born) {
      const sent: Promise<void>[] = [];
      this.#data(session, d, results, sent);
      await Promise.all(sent);
    }
  }

  async goodbye(session: MqttSession): Promise<void> {
    if (!this.#born) return;
    this.#born = false;
    await session.publish({
      topic: this.#topic("NDEATH"),
      payload: this.#death(),
      qos: 1,
      retain: false,
    });
  }
}
