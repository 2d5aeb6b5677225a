/**
 * The MQTT bridge: the heavy half of the `mqtt` adapter, loaded only by hops
 * that use `--mqtt`. It keeps one session with the broker (reconnecting with
 * backoff) and publishes every change in the chosen format. When the broker
 * falls behind (more than `maxPending` changes waiting), changed points wait
 * in a dirty set instead: a point that changes again before it is published
 * is sent once, with its latest state, so a slow broker gets the newest
 * picture at the rate it can take, in bounded memory (as the tunnel's links
 * coalesce under back-pressure). While no session can take data, every
 * change is kept: appended to the bounded on-disk buffer in the data
 * directory, which is replayed in order (as history) before live data. One
 * pump loop does all publishing, so ordering never depends on timing.
 */
import { Buffer } from "node:buffer";
import { join } from "node:path";
import type { IClientOptions } from "mqtt";
import {
  type Adapter,
  type AdapterStatus,
  Backoff,
  type CertWatch,
  DiskBuffer,
  type HopContext,
  notStarted,
  type Point,
  PointQueue,
  sleep,
  Status,
  withTimeout,
} from "../../core/mod.ts";
import { JsonFormat } from "./json_format.ts";
import { mqttBrokerAddress, mqttEffective } from "./options.ts";
import { describeMqttError } from "./mqtt_errors.ts";
import { type MqttFormat, type OutPoint, OutPointPool } from "./mqtt_format.ts";
import { attempt, type Session } from "./mqtt_session.ts";
import { pointFromJson, type PointJson, pointToJson } from "./point_json.ts";
import { SparkplugEdge } from "./sparkplug_edge.ts";

/** Updates per buffer record. */
const recordPoints = 5000;
/**
 * Changes kept one by one while a session takes data; beyond, the broker is
 * behind and only each point's latest state waits (coalescing).
 */
const maxPending = 50_000;
/**
 * Most points in one publish step: a step encodes synchronously, and links
 * (a downstream snapshot, heartbeats) need their turns in between.
 */
const stepPoints = 50_000;
/** How often pending updates are flushed. */
const flushMs = 50;
/** Distinct publish failure messages logged (each once); beyond, they show in the status only. */
const maxLoggedFailures = 16;

/** Reads a secret file the configuration names; a trailing newline is not part of it. */
function readSecret(path: string, flag: string): string {
  try {
    return Deno.readTextFileSync(path).replace(/\r?\n$/, "");
  } catch (e) {
    throw new Error(`Cannot read ${flag} "${path}": ${(e as Error).message}; check the path`);
  }
}

/** Counters of a bridge since it started, for status and benchmarks. */
export interface MqttStats {
  /** Updates published live. */
  sent: number;
  /** Buffered updates published as history. */
  drained: number;
  /** Updates written to the on-disk buffer (no session took them). */
  spilled: number;
  /**
   * Updates that waited as their point's latest state because the broker was
   * behind: a point changed again before it was sent counts once per change.
   */
  coalesced: number;
  /** Records on disk now. */
  buffered: number;
  /** Records the buffer's limits dropped. */
  dropped: number;
}

/** The bridge of one hop: the adapter `MqttAdapter` (mod.ts) loads when started. */
export class MqttBridge implements Adapter {
  readonly name: string;
  readonly kind = "mqtt";
  #ctx!: HopContext;
  #format!: MqttFormat;
  #buffer!: DiskBuffer;
  #options!: IClientOptions;
  #url!: URL;
  /**
   * Changes one by one, in order: every change while no session takes data
   * (history for the disk buffer), and up to `maxPending` while one does.
   */
  #pending: OutPoint[] = [];
  /** Where the copies in `#pending` and in each step come from, and go back to once sent or spilled. */
  #copies!: OutPointPool;
  /** Points changed while a session takes data and not yet published; latest state wins. */
  #dirty = new PointQueue();
  #session: Session | null = null;
  /** The session that has replayed the buffer and sends live data. */
  #live: Session | null = null;
  #stopping = false;
  #wake: (() => void) | null = null;
  #loops: Promise<void>[] = [];
  #unsubscribe: () => void = () => {};
  #stopSleep = new AbortController();
  #sent = 0;
  #drained = 0;
  #spilled = 0;
  #coalesced = 0;
  #messages: Promise<void> = Promise.resolve();
  /** Messages of publish failures already logged. */
  #loggedFailures = new Set<string>();
  /** The last sync of the disk buffer failed (logged once until one succeeds). */
  #syncFailed = false;

  /** The CA and client certificate, kept current by the hop; absent, they are read once at start. */
  #certs: CertWatch | null;

  /** A bridge named `name`; it reads its settings from the hop's configuration when started. */
  constructor(name: string, certs?: CertWatch) {
    this.name = name;
    this.#certs = certs ?? null;
  }

  /** Counters for status and benchmarks. */
  stats(): MqttStats {
    return {
      sent: this.#sent,
      drained: this.#drained,
      spilled: this.#spilled,
      coalesced: this.#coalesced,
      buffered: this.#buffer?.records ?? 0,
      dropped: this.#buffer?.dropped ?? 0,
    };
  }

  /** Its status, with what it published and what waits in its disk buffer, for the status endpoint. */
  status(): AdapterStatus {
    // The context is there from the first step of `start`, and the status with it.
    if (this.#ctx === undefined) return notStarted(this);
    const s = this.#ctx.status.get();
    const oldest = this.#buffer?.oldestTime ?? null;
    return {
      ...s,
      counters: {
        ...s.counters,
        published_updates: this.#sent + this.#drained,
        spilled_updates: this.#spilled,
        buffer_bytes: this.#buffer?.bytes ?? 0,
        buffer_limit_bytes: this.#ctx.config.mqttBufferSize,
        buffer_records: this.#buffer?.records ?? 0,
        buffer_oldest_age_seconds: oldest === null ? 0 : (this.#ctx.clock.now() - oldest) / 1000,
        buffer_dropped_records: this.#buffer?.dropped ?? 0,
      },
    };
  }

  async start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    this.#copies = new OutPointPool(() => ctx.clock.now());
    const c = ctx.config;
    this.#url = c.mqtt!;
    const f = {
      ctx,
      effective: mqttEffective(c),
      qos: c.mqttQos,
    };
    this.#format = c.mqttFormat === "json" ? new JsonFormat(f) : new SparkplugEdge(f);
    const eff = mqttEffective(c);
    const options: IClientOptions = {
      protocolVersion: c.mqttVersion === "5" ? 5 : 4,
      clientId: c.mqttClientId,
      clean: true,
      keepalive: 30,
    };
    if (eff.username !== undefined) options.username = eff.username;
    if (c.mqttPasswordFile) {
      options.password = readSecret(c.mqttPasswordFile, "--mqtt-password-file");
    }
    if (c.mqttPasswordEnv) {
      const v = Deno.env.get(c.mqttPasswordEnv);
      if (v === undefined) {
        throw new Error(
          `--mqtt-password-env names ${c.mqttPasswordEnv}, which is not set; set it or pass --mqtt-password-file`,
        );
      }
      options.password = v;
    }
    if (!this.#certs) {
      if (c.mqttCa) options.ca = readSecret(c.mqttCa, "--mqtt-ca");
      if (c.mqttCert) options.cert = readSecret(c.mqttCert, "--mqtt-cert");
      if (c.mqttKey) options.key = readSecret(c.mqttKey, "--mqtt-key");
    }
    this.#options = options;
    this.#buffer = await DiskBuffer.open(join(c.dataDir, "mqtt", "buffer"), {
      maxBytes: c.mqttBufferSize,
      maxAge: c.mqttBufferAge,
      clock: this.#ctx.clock,
    });
    for (const r of this.#buffer.repairs) {
      this.#ctx.log.warn(
        "MQTT buffer segment {file}: {kept} batches kept, {dropped} damaged or following batches and {bytes} bytes from the damage on dropped ({cause}: cut short by a crash or corrupted); the segment was cut back, nothing to do unless this repeats (then check the disk)",
        {
          file: join(this.#buffer.dir, r.file),
          kept: r.kept,
          dropped: r.dropped,
          bytes: r.droppedBytes,
          cause: r.cause,
        },
      );
    }
    if (this.#buffer.records > 0) {
      this.#ctx.log.info(
        "{records} buffered batches from an earlier run will be sent before live data",
        { records: this.#buffer.records },
      );
    }
    this.#statusPoint(false);
    this.#unsubscribe = this.#ctx.store.subscribe({
      onUpdate: (p) => {
        const s = this.#session;
        const behind = this.#dirty.size > 0 || this.#pending.length >= maxPending;
        if (behind && s !== null && s.ready && !s.isClosed) {
          // The broker is behind: each point's latest state waits, however often it changes,
          // until the dirty set is empty again (so no point's change can overtake it).
          this.#dirty.add(p);
          this.#coalesced++;
        } else {
          this.#pending.push(this.#copies.take(p));
        }
        if (this.#pending.length === recordPoints) this.#wake?.();
      },
      onRemove: (p) => {
        // A removed point's latest state is not sent (it is skipped when taken anyway), and
        // the format forgets what it kept of it.
        if (this.#dirty.size > 0) this.#dirty.delete(p);
        this.#format.removed?.(p.id);
      },
    }, { name: this.name, onError: (e, p) => this.#ctx.status.sinkError(e, p) });
    this.#ctx.status.running("running");
    this.#loops.push(this.#connectLoop(), this.#pump());
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#unsubscribe();
    this.#wake?.();
    this.#stopSleep.abort(new Error("stopping"));
    const [, pump] = this.#loops;
    await pump;
    const s = this.#session;
    // The last updates: live if the session can take them, otherwise on disk for the next run.
    const last = [...this.#pending.splice(0), ...this.#takeDirty(Infinity)];
    let published = false;
    if (s?.ready && !s.isClosed && this.#buffer.records === 0 && last.length > 0) {
      try {
        await withTimeout(this.#format.publish(s, last, false), 3000, {
          what: "Publishing the last updates",
        });
        this.#sent += last.length;
        published = true;
      } catch { /* kept on disk below */ }
    }
    if (!published) {
      this.#spill(last);
      await this.#syncBuffer();
    }
    if (s && !s.isClosed) {
      await withTimeout(this.#format.goodbye(s), 2000, { what: "Goodbye" }).catch(() => {});
      await s.end("stopping");
    }
    await Promise.all(this.#loops);
    if (this.#buffer.records > 0) {
      this.#ctx.log.info("{records} batches stay buffered in {dir} for the next run", {
        records: this.#buffer.records,
        dir: this.#buffer.dir,
      });
    }
    this.#ctx.status.running("stopped");
    this.#ctx.status.connection("down");
  }

  /** `<hop>/$mqtt/connected`: the broker connection as a point, like any link's status. */
  #statusPoint(connected: boolean): void {
    this.#ctx.apply({
      id: `${this.#ctx.hop}/$mqtt/connected`,
      value: connected,
      type: "Boolean",
      status: Status.Good,
      time: this.#ctx.clock.now(),
      hops: [],
      cause: null,
    });
  }

  /** The CA and client certificate in use now: each attempt takes the latest reload. */
  #tlsFiles(): Pick<IClientOptions, "ca" | "cert" | "key"> {
    const pem = this.#certs?.current.pem;
    if (!pem) return {};
    return {
      ...(pem.ca !== undefined ? { ca: pem.ca } : {}),
      ...(pem.cert !== undefined ? { cert: pem.cert } : {}),
      ...(pem.key !== undefined ? { key: pem.key } : {}),
    };
  }

  #hostPort(): string {
    return mqttBrokerAddress(this.#url);
  }

  async #connectLoop(): Promise<void> {
    const log = this.#ctx.log;
    const backoff = new Backoff({ initial: 500, max: 30_000 });
    let lastLogged = "";
    let failures = 0;
    while (!this.#stopping) {
      const host = this.#hostPort();
      // mqtt.js fails silently (only 'close') when Deno's net permission is missing.
      if (Deno.permissions.querySync({ name: "net", host }).state !== "granted") {
        const msg =
          `Not permitted to reach broker ${host}; run with the permissions hopgate build --dry-run prints for this configuration`;
        this.#ctx.status.connection("down", msg);
        log.error(msg);
        return;
      }
      this.#ctx.status.connection("connecting");
      const will = this.#format.will();
      const options: IClientOptions = { ...this.#options, ...this.#tlsFiles() };
      if (will) {
        options.will = {
          topic: will.topic,
          payload: typeof will.payload === "string" ? will.payload : Buffer.from(will.payload),
          qos: will.qos,
          retain: will.retain,
        };
      }
      const r = await attempt(
        this.#url,
        options,
        (s, reason) => void this.#restart(s, reason),
        10_000,
        this.#stopSleep.signal,
      );
      if ("error" in r) {
        failures++;
        const msg = describeMqttError(r.error, { url: this.#url });
        this.#ctx.status.connection("down", msg);
        if (msg !== lastLogged || failures % 20 === 0) {
          log.warn("MQTT: {error} (attempt {attempt})", { error: msg, attempt: failures });
          lastLogged = msg;
        }
      } else {
        const s = r.session;
        if (this.#stopping) {
          await s.end("stopping");
          break;
        }
        backoff.reset();
        failures = 0;
        lastLogged = "";
        this.#session = s;
        s.client.on("message", (topic, payload) => {
          // Commands are handled one at a time, in arrival order.
          this.#messages = this.#messages.then(() =>
            this.#format.message(s, topic, new Uint8Array(payload)).catch((e) =>
              log.warn("MQTT: handling a message on {topic} failed: {error}", {
                topic,
                error: (e as Error).message,
              })
            )
          );
        });
        this.#ctx.status.connection("connected");
        log.info("MQTT: connected to {broker} as {client}", {
          broker: this.#url.href,
          client: this.#options.clientId,
        });
        try {
          await s.subscribe(this.#format.subscriptions());
          await this.#format.online(s);
          this.#statusPoint(true);
          this.#wake?.();
        } catch (e) {
          log.warn("MQTT: starting the session failed: {error}", { error: (e as Error).message });
          await s.end("session start failed", true);
        }
        const why = await s.closed;
        this.#session = null;
        if (this.#stopping) break;
        this.#ctx.status.connection("down", `Connection to ${this.#hostPort()} lost: ${why}`);
        log.warn(
          "MQTT: connection to {broker} lost ({why}); buffering updates on disk until it is back",
          { broker: this.#url.href, why },
        );
        this.#statusPoint(false);
      }
      try {
        await sleep(backoff.next(), { clock: this.#ctx.clock, signal: this.#stopSleep.signal });
      } catch {
        break;
      }
    }
  }

  async #restart(s: Session, reason: string): Promise<void> {
    await withTimeout(this.#format.goodbye(s), 2000, { what: "Goodbye" }).catch(() => {});
    await s.end(reason);
  }

  /** Waits for a wake-up or the flush interval. */
  #sleep(): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#ctx.clock.setTimeout(() => {
        this.#wake = null;
        resolve();
      }, flushMs);
      this.#wake = () => {
        this.#ctx.clock.clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
    });
  }

  async #pump(): Promise<void> {
    let more = false;
    while (!this.#stopping) {
      // A step that left changed points behind goes on at once, after other tasks had a turn.
      await (more ? sleep(0) : this.#sleep());
      if (this.#stopping) break;
      more = false;
      try {
        more = await this.#step();
      } catch (e) {
        this.#ctx.log.error("MQTT: publishing failed unexpectedly: {error}", {
          error: (e as Error).stack ?? String(e),
        });
      }
      // What this step spilled reaches the disk once per flush interval, not once per batch.
      await this.#syncBuffer();
    }
  }

  /** Makes the batches spilled so far survive a power loss (fdatasync of the buffer). */
  async #syncBuffer(): Promise<void> {
    try {
      await this.#buffer.sync();
      this.#syncFailed = false;
    } catch (e) {
      if (this.#syncFailed) return;
      this.#syncFailed = true;
      this.#ctx.log.error(
        "MQTT: could not flush the store-and-forward buffer in {dir} to disk: {error}; buffered updates may not survive a power loss: check the disk (tried again every flush)",
        { dir: this.#buffer.dir, error: (e as Error).message },
      );
    }
  }

  /**
   * Takes points from the dirty set, oldest change first, as copies of their
   * current state (points removed meanwhile are skipped), onto `out` until
   * it holds `n`.
   */
  #takeDirty(n: number, out: OutPoint[] = []): OutPoint[] {
    while (out.length < n) {
      // A point removed meanwhile left the queue with its removal.
      const p = this.#dirty.shift();
      if (p === undefined) break;
      out.push(this.#copies.take(p));
    }
    return out;
  }

  /** One round of publishing; true when changed points are left for the next round. */
  async #step(): Promise<boolean> {
    const s = this.#session;
    if (!s || !s.ready || s.isClosed) {
      // Nothing takes data: every change goes to disk, in order; coalesced points last, as
      // their latest state is newer than any change kept one by one.
      this.#spillCopies(this.#pending.splice(0));
      this.#spillCopies(this.#takeDirty(Infinity));
      return false;
    }
    if (this.#buffer.records > 0) {
      // History first; what changes meanwhile queues behind it (on disk, or in the dirty set
      // once the broker is behind).
      this.#spillCopies(this.#pending.splice(0));
      await this.#drain(s);
      if (this.#buffer.records > 0) return false;
    }
    if (this.#live !== s) {
      // Whatever is pending is older than the current state sent here, so it goes first.
      const before = this.#pending.splice(0);
      try {
        await this.#format.publish(s, before, false);
        await this.#format.caughtUp(s);
        this.#sent += before.length;
        this.#live = s;
      } catch (e) {
        this.#publishFailed(s, e);
        this.#spillCopies(before);
        return false;
      }
      this.#copies.giveBack(before);
    }
    // Pending changes are older than any coalesced point's state: they go first.
    const batch = this.#pending.splice(0, stepPoints);
    this.#takeDirty(stepPoints, batch);
    try {
      if (batch.length > 0) await this.#format.publish(s, batch, false);
      this.#sent += batch.length;
    } catch (e) {
      // Not acknowledged before the session closed: kept, in order, ahead of what came since.
      this.#publishFailed(s, e);
      this.#spillCopies(batch);
      return false;
    }
    this.#copies.giveBack(batch);
    // Births that waited carry current values: only once no older change is still queued. A
    // session that closes meanwhile births again when it is back.
    if (this.#pending.length === 0) {
      await this.#format.tick?.(s).catch((e) => this.#publishFailed(s, e));
    }
    return this.#dirty.size > 0 || this.#pending.length >= recordPoints;
  }

  /** Sends a window of buffered updates as history; acknowledged only once published. */
  async #drain(s: Session): Promise<void> {
    const records = await this.#buffer.peek(8);
    const points: Point[] = [];
    for (const r of records) {
      try {
        const list = JSON.parse(new TextDecoder().decode(r.data)) as PointJson[];
        for (const j of list) points.push(pointFromJson(j));
      } catch (e) {
        this.#ctx.log.error("MQTT: skipping an unreadable buffer record: {error}", {
          error: (e as Error).message,
        });
      }
    }
    try {
      await this.#format.publish(s, points, true);
    } catch (e) {
      this.#publishFailed(s, e);
      return;
    }
    await this.#buffer.ack(records.length);
    this.#drained += points.length;
    if (this.#buffer.records === 0) {
      this.#ctx.log.info("MQTT: sent {count} buffered updates; now live", { count: this.#drained });
    }
  }

  /**
   * A publish failed. When its session is still up, the broker is not the
   * cause (the updates could not be encoded): shown in the status every
   * time and logged once per message, as the updates stay queued and are
   * tried again. A lost session is reported by the connect loop.
   */
  #publishFailed(s: Session, e: unknown): void {
    if (!s.ready || s.isClosed) return;
    const message = e instanceof Error ? e.message : String(e);
    this.#ctx.status.error(`Publishing failed with the broker connected: ${message}`);
    if (this.#loggedFailures.has(message) || this.#loggedFailures.size >= maxLoggedFailures) return;
    this.#loggedFailures.add(message);
    this.#ctx.log.error(
      "MQTT: publishing failed with the broker connected: {error}; the updates stay queued and are tried again",
      { error: e instanceof Error ? (e.stack ?? e.message) : String(e) },
    );
  }

  /** Spills copies from the pool ({@link #spill}), which may then be used again. */
  #spillCopies(points: OutPoint[]): void {
    this.#spill(points);
    this.#copies.giveBack(points);
  }

  /** Appends updates to the on-disk buffer, logging what the limits dropped. */
  #spill(points: Point[]): void {
    this.#spilled += points.length;
    for (let i = 0; i < points.length; i += recordPoints) {
      const chunk = points.slice(i, i + recordPoints).map((p) => pointToJson(p));
      const dropped = this.#buffer.append(new TextEncoder().encode(JSON.stringify(chunk)));
      if (dropped > 0) {
        this.#ctx.log.warn(
          "MQTT: store-and-forward buffer over --mqtt-buffer-size or --mqtt-buffer-age: dropped the {dropped} oldest batches ({total} so far)",
          { dropped, total: this.#buffer.dropped },
        );
      }
    }
  }
}
