/**
 * The sending side of a data diode: the hop's data set as UDP packets to one
 * address, and nothing ever read back. Changes go out as they happen; the
 * whole set repeats as a carousel, one cycle per --diode-carousel (the first
 * as fast as the rate allows), so a receiver that lost packets or started
 * late converges within a cycle; a parity packet after every k packets
 * repairs one loss in k. Every byte counts against --diode-rate: above it,
 * changes coalesce per point (a point waiting to go out is sent once, in
 * its latest state), so memory stays bounded by the number of points.
 */
import dgram from "node:dgram";
import { join } from "node:path";
import {
  type Adapter,
  type AdapterStatus,
  type HopContext,
  notStarted,
  pointSlot,
  Status,
  type StoredPoint,
} from "../../core/mod.ts";
import {
  DataFrameWriter,
  encodedValueSize,
  exceedsSize,
  frameHeaderSize,
  utf8Size,
} from "../../tunnel/mod.ts";
import { type DiodeKey, keyName, readDiodeKeys, watchDiodeKeys } from "./diode_key.ts";
import {
  Flag,
  headerBytes,
  innerBytes,
  Kind,
  linkName,
  repeatBytes,
  seal,
  tagBytes,
  wireOverhead,
  writeInner,
} from "./diode_packet.ts";
import { nextEpoch } from "./epoch.ts";
import { parityOf } from "./xor_parity.ts";
// The diode's settings join HopConfig where its options are declared.
import type {} from "./options.ts";

/** The pump's period: packets are built and sent in rounds this far apart. */
const tickMs = 10;
/** Cycles a removed point is announced again in, after the change that removed it. */
const tombstoneCycles = 3;
/**
 * Each change packet goes out a second time this much later, with its
 * original packet number: a loss that parity cannot repair is most often
 * repaired by the copy (a burst that takes both is rarer than the
 * packet-by-packet losses parity misses), at the cost of sending changes
 * twice. Carousel packets are not repeated: the next cycle repeats them.
 */
const repeatDelayMs = 100;
/** Most change packets waiting for their repeat; beyond, the oldest go unrepeated. */
const maxRepeats = 16_384;
/** Share of a round's budget changes may take while the carousel is behind its schedule. */
const changeShare = 0.75;

/** What a diode sender needs besides the hop's context. */
export interface DiodeSenderOptions {
  /** The hop behind the diode. */
  peer: string;
  /** Where packets go: host. */
  host: string;
  /** Where packets go: UDP port. */
  port: number;
}

/** Counters of a sender, for the log, the status and tests. */
export interface DiodeSenderStats {
  /** Datagrams sent, of every kind. */
  packets: number;
  /** Bytes sent, IP and UDP headers included (what --diode-rate counts). */
  bytes: number;
  /** Packets of changes as they happened. */
  changePackets: number;
  /** Packets of the carousel, the whole set again. */
  carouselPackets: number;
  /** XOR parity packets (--diode-fec). */
  parityPackets: number;
  /** Change packets sent a second time. */
  repeats: number;
  /** Heartbeats sent while nothing else was. */
  heartbeats: number;
  /** Carousel cycles completed. */
  cycles: number;
  /** Point changes taken from the store, and those sent (fewer when they coalesced). */
  changesSeen: number;
  /** Point changes sent. */
  changesSent: number;
  /** Datagrams the system refused to send (no route, say). */
  sendErrors: number;
}

/** A point removed from the store, announced again in the next cycles. */
interface Tombstone {
  id: string;
  type: StoredPoint["type"];
  hops: string[];
  cycles: number;
}

/** One outgoing diode link (`diode:<peer>`). */
export class DiodeSender implements Adapter {
  readonly name: string;
  readonly kind = "diode";
  #peer: string;
  #host: string;
  #port: number;
  #ctx: HopContext | null = null;
  #socket: dgram.Socket | null = null;
  #key: DiodeKey | null = null;
  #link: Uint8Array = new Uint8Array(0);
  #epoch = 0;
  #seq = 0;
  #changeNo = 0;
  /** Points split so far in this epoch: names each split. */
  #splits = 0;
  #cycle = 0;
  #maxPlain = 0;
  /** Bytes of records a data packet carries: a repeat of it must fit a packet too. */
  #room = 0;
  #fec = 0;
  #rate = 0;
  #timer = 0;
  #running = false;
  #stopped: Promise<void> | null = null;
  #unsubscribe: (() => void) | null = null;
  #abort = new AbortController();

  // Changes: dirty points by store slot, each queued once (coalescing).
  #points: (StoredPoint | undefined)[] = [];
  #dirty = new Uint8Array(1024);
  #queue: number[] = [];
  #head = 0;
  /**
   * Removed points whose slot the store gave to a new point before their
   * removal was sent: sent before the dirty points, so a removal never
   * follows a later state of the same id.
   */
  #gone: StoredPoint[] = [];
  #goneHead = 0;
  #tombstones = new Map<string, Tombstone>();

  // The carousel: the points of the current cycle, and how far it has gone.
  #cyclePoints: StoredPoint[] = [];
  #cursor = 0;
  #cycleFrom = 0;
  /** Carousel packets of this cycle so far, and whether its end (tombstones) has been sent. */
  #cyclePackets = 0;
  #cycleDone = false;
  /** The last complete cycle and its carousel packets (cycle -1: none yet). */
  #ended = { cycle: -1, packets: 0 };
  #slowCycles = 0;

  /** Change packets sent and due to go again, oldest first, with their packet numbers. */
  #repeats: { due: number; seq: number; plain: Uint8Array }[] = [];
  #repeatHead = 0;
  #repeatDelay = repeatDelayMs;
  /** Plaintexts sent since the last parity packet. */
  #group: Uint8Array[] = [];
  #tokens = 0;
  #lastTick = 0;
  #lastSent = 0;
  #writer = new DataFrameWriter(4096);
  #stats: DiodeSenderStats = {
    packets: 0,
    bytes: 0,
    changePackets: 0,
    carouselPackets: 0,
    parityPackets: 0,
    repeats: 0,
    heartbeats: 0,
    cycles: 0,
    changesSeen: 0,
    changesSent: 0,
    sendErrors: 0,
  };

  /** A sender into the diode `options` names. */
  constructor(options: DiodeSenderOptions) {
    this.name = `diode:${options.peer}`;
    this.#peer = options.peer;
    this.#host = options.host;
    this.#port = options.port;
  }

  /** The id of the key packets are sealed under now (-1 before the start). */
  get keyId(): number {
    return this.#key?.id ?? -1;
  }

  /** Counters so far. */
  stats(): DiodeSenderStats {
    return { ...this.#stats };
  }

  async start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    const c = ctx.config;
    const keys = (await readDiodeKeys(c.diodeKey)).filter((k) => k.hop === ctx.hop);
    const key = keys.at(-1);
    if (key === undefined) {
      throw new Error(
        `Diode key file "${c.diodeKey}" has no key for this hop (${ctx.hop}); add one with: hopgate certs diode-key ${ctx.hop}`,
      );
    }
    this.#key = key;
    watchDiodeKeys(c.diodeKey, ctx.clock, this.#abort.signal, {
      onKeys: (keys) => {
        const newest = keys.filter((k) => k.hop === ctx.hop).at(-1);
        if (newest === undefined || newest.id === this.#key?.id) return;
        this.#key = newest;
        ctx.log.info("Sending to {peer} under key {key} from now on", {
          peer: this.#peer,
          key: keyName(newest),
        });
      },
      onError: (e) => ctx.status.error(e.message),
    });
    this.#link = linkName(ctx.hop, this.#peer);
    this.#epoch = await nextEpoch(join(c.dataDir, `diode-send-${this.#peer}.epoch`), ctx.clock);
    this.#maxPlain = c.diodePacket - headerBytes - tagBytes;
    this.#room = this.#maxPlain - innerBytes - repeatBytes;
    this.#repeatDelay = Math.min(repeatDelayMs, c.heartbeat / 4);
    this.#fec = c.diodeFec;
    this.#rate = c.diodeRate;
    const socket = dgram.createSocket(this.#host.includes(":") ? "udp6" : "udp4");
    socket.on("error", (e) => this.#failed(e));
    this.#socket = socket;
    this.#unsubscribe = ctx.store.subscribe({
      onUpdate: (p) => this.#changed(p),
      onRemove: (p) => this.#changed(p),
    }, { name: this.name });
    this.#running = true;
    ctx.status.running("running");
    // A diode never hears back: "connected" says only that packets are going out.
    ctx.status.connection("connected");
    this.#lastTick = ctx.clock.now();
    this.#newCycle(true);
    ctx.log.info(
      "Sending one way to {peer} at {address} (epoch {epoch}, key {key}, carousel {carousel} ms, up to {rate} bytes/s)",
      {
        peer: this.#peer,
        address: `${this.#host}:${this.#port}`,
        epoch: this.#epoch,
        key: keyName(key),
        carousel: c.diodeCarousel,
        rate: this.#rate,
      },
    );
    this.#schedule(0);
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#running = false;
      this.#abort.abort();
      this.#unsubscribe?.();
      this.#ctx?.clock.clearTimeout(this.#timer);
      const socket = this.#socket;
      this.#socket = null;
      if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
      this.#ctx?.status.running("stopped");
      this.#ctx?.status.connection("down");
    })();
    return this.#stopped;
  }

  status(): AdapterStatus {
    return this.#ctx?.status.get() ?? notStarted(this);
  }

  #failed(e: Error): void {
    this.#ctx?.status.error(`Sending to ${this.#host}:${this.#port} failed: ${e.message}`);
  }

  /**
   * A datagram left this host, or could not: all a sender can know of its
   * diode, so "connected" means that packets go out (no route, say, shows as down).
   */
  #sent = (e: Error | null): void => {
    const status = this.#ctx?.status;
    if (!status || !this.#running) return;
    if (e) {
      this.#stats.sendErrors++;
      const wasUp = status.get().connection === "connected";
      status.connection("down", `Sending to ${this.#host}:${this.#port} failed: ${e.message}`);
      if (wasUp) {
        this.#ctx!.log.warn("Cannot send to {peer} at {address}: {error}", {
          peer: this.#peer,
          address: `${this.#host}:${this.#port}`,
          error: e.message,
        });
      }
    } else if (status.get().connection !== "connected") {
      status.connection("connected");
    }
  };

  #changed(p: StoredPoint): void {
    const slot = pointSlot(p);
    if (slot < 0) return;
    this.#stats.changesSeen++;
    const held = this.#points[slot];
    // A removed point still waiting to go out, whose slot the store has given to `p`.
    if (held !== undefined && held !== p) this.#gone.push(held);
    this.#points[slot] = p;
    if (slot >= this.#dirty.length) {
      const bigger = new Uint8Array(Math.max(this.#dirty.length * 2, slot + 1));
      bigger.set(this.#dirty);
      this.#dirty = bigger;
    }
    if (this.#dirty[slot] === 0) {
      this.#dirty[slot] = 1;
      this.#queue.push(slot);
    }
  }

  #schedule(ms: number): void {
    if (!this.#running) return;
    this.#timer = this.#ctx!.clock.setTimeout(() => {
      this.#round().catch((e) => this.#failed(e as Error)).finally(() => this.#schedule(tickMs));
    }, ms);
  }

  /** A cycle is complete: what it took is told in every heartbeat until the next one ends. */
  #endCycle(now: number): void {
    const ctx = this.#ctx!;
    const took = now - this.#cycleFrom;
    this.#stats.cycles++;
    this.#ended = { cycle: this.#cycle, packets: this.#cyclePackets };
    if (this.#cycle === 0) {
      ctx.log.info(
        "First carousel cycle to {peer}: {points} points in {packets} packets (up to {bytes} bytes); a cycle needs up to {seconds} s at --diode-rate",
        {
          peer: this.#peer,
          points: this.#cyclePoints.length,
          packets: this.#cyclePackets,
          bytes: this.#cyclePackets * this.#ctx!.config.diodePacket,
          seconds:
            Math.round((this.#cyclePackets * this.#ctx!.config.diodePacket / this.#rate) * 10) / 10,
        },
      );
    }
    if (
      Number.isFinite(took) && took > ctx.config.diodeCarousel * 1.5 &&
      ++this.#slowCycles % 100 === 1
    ) {
      ctx.log.warn(
        "A carousel cycle to {peer} took {ms} ms, longer than --diode-carousel ({carousel} ms): raise --diode-rate or --diode-carousel ({n} slow cycles so far)",
        {
          peer: this.#peer,
          ms: Math.round(took),
          carousel: ctx.config.diodeCarousel,
          n: this.#slowCycles,
        },
      );
    }
    this.#newCycle(false);
  }

  #newCycle(first: boolean): void {
    const store = this.#ctx!.store;
    this.#cyclePoints = [...store.values()];
    this.#cursor = 0;
    this.#cyclePackets = 0;
    this.#cycleDone = false;
    // The first cycle goes as fast as the rate allows: a receiver may be waiting for all of it.
    this.#cycleFrom = first ? -Infinity : this.#ctx!.clock.now();
    if (!first) this.#cycle++;
  }

  /** One round: the budget since the last, spent on changes, the carousel, parity and heartbeat. */
  async #round(): Promise<void> {
    const ctx = this.#ctx!;
    const now = ctx.clock.now();
    const packet = this.#maxPlain + headerBytes + tagBytes + wireOverhead;
    // A round's budget; two rounds' worth saved up at most, so a burst stays well within the
    // socket's buffer (a burst beyond it is dropped by the sender's own kernel).
    this.#tokens = Math.min(
      this.#tokens + (this.#rate * (now - this.#lastTick)) / 1000,
      Math.max((this.#rate * tickMs * 2) / 1000, packet * 4),
    );
    this.#lastTick = now;
    const out: Uint8Array[] = [];
    const budget = this.#tokens;
    const spend = (plain: Uint8Array) => {
      this.#tokens -= plain.length + headerBytes + tagBytes + wireOverhead;
      if (plain[0] === Kind.Data && (plain[1]! & Flag.Change) === 0) this.#cyclePackets++;
      out.push(plain);
      this.#group.push(plain);
      if (this.#fec > 0 && this.#group.length >= this.#fec) out.push(this.#parity());
    };
    const carouselDue = () => {
      if (this.#cursor >= this.#cyclePoints.length) return false;
      const elapsed = now - this.#cycleFrom;
      const due = (elapsed / ctx.config.diodeCarousel) * this.#cyclePoints.length;
      return this.#cursor < due;
    };
    // Repeats first: each is owed, and the receiver waits for it before it calls a loss a gap.
    while (this.#tokens >= packet && this.#repeatDue(now)) spend(this.#repeat());
    // Changes next, but not all of the budget while the carousel is behind its schedule.
    const changeFloor = carouselDue() ? budget * (1 - changeShare) : 0;
    while (this.#tokens > changeFloor && this.#tokens >= packet && this.#pending()) {
      for (const p of this.#changePackets()) spend(p);
    }
    while (this.#tokens >= packet && carouselDue()) {
      for (const p of this.#carouselPackets()) spend(p);
    }
    while (this.#tokens >= packet && this.#pending()) {
      for (const p of this.#changePackets()) spend(p);
    }
    if (this.#cursor >= this.#cyclePoints.length && !this.#cycleDone && this.#tokens >= packet) {
      for (const p of this.#tombstonePackets()) spend(p);
      this.#cycleDone = true;
    }
    if (this.#cycleDone && now - this.#cycleFrom >= ctx.config.diodeCarousel) {
      this.#endCycle(now);
      // Said at once: a receiver that took every packet of the cycle may sweep what it lacked.
      spend(this.#heartbeat());
      this.#stats.heartbeats++;
    }
    if (out.length === 0 && now - this.#lastSent >= ctx.config.heartbeat) {
      spend(this.#heartbeat());
      this.#stats.heartbeats++;
    }
    // A group that got nothing this round is closed: a lone change must not wait for k more.
    if (this.#group.length > 0 && out.length === 0) {
      if (this.#fec > 0) out.push(this.#parity());
      else this.#group = [];
    }
    if (out.length === 0) return;
    this.#lastSent = now;
    await this.#send(out);
  }

  #repeatDue(now: number): boolean {
    const next = this.#repeats[this.#repeatHead];
    return next !== undefined && next.due <= now;
  }

  /** The next change packet again: its packet number and its plaintext, as sent. */
  #repeat(): Uint8Array {
    const r = this.#repeats[this.#repeatHead++]!;
    if (this.#repeatHead === this.#repeats.length) {
      this.#repeats = [];
      this.#repeatHead = 0;
    } else if (this.#repeatHead > 1024 && this.#repeatHead * 2 > this.#repeats.length) {
      this.#repeats = this.#repeats.slice(this.#repeatHead);
      this.#repeatHead = 0;
    }
    const plain = this.#inner(Kind.Repeat, 0, repeatBytes - innerBytes + r.plain.length);
    const v = new DataView(plain.buffer);
    v.setUint32(innerBytes, Math.floor(r.seq / 2 ** 32));
    v.setUint32(innerBytes + 4, r.seq >>> 0);
    plain.set(r.plain, repeatBytes);
    this.#stats.repeats++;
    return plain;
  }

  #pending(): boolean {
    return this.#head < this.#queue.length || this.#goneHead < this.#gone.length;
  }

  #inner(kind: number, flags: number, body: number): Uint8Array {
    const plain = new Uint8Array(innerBytes + body);
    if (flags & Flag.Change) this.#changeNo++;
    writeInner(plain, { kind, flags, changeNo: this.#changeNo, cycle: this.#cycle });
    return plain;
  }

  #parity(): Uint8Array {
    const body = parityOf(this.#group);
    this.#group = [];
    const plain = this.#inner(Kind.Parity, 0, body.length);
    plain.set(body, innerBytes);
    this.#stats.parityPackets++;
    this.#tokens -= plain.length + headerBytes + tagBytes + wireOverhead;
    return plain;
  }

  #heartbeat(): Uint8Array {
    const plain = this.#inner(Kind.Heartbeat, 0, 16);
    const v = new DataView(plain.buffer);
    v.setUint32(innerBytes, this.#ctx!.store.size);
    v.setUint32(innerBytes + 4, this.#ctx!.config.heartbeat);
    v.setUint32(innerBytes + 8, this.#ended.cycle >>> 0);
    v.setUint32(innerBytes + 12, this.#ended.packets);
    return plain;
  }

  /** Upper bound of a point's definition and state in a data body. */
  #estimate(
    p: { id: string; hops: string[]; value: StoredPoint["value"] },
    cause: boolean,
  ): number {
    let n = 24 + utf8Size(p.id) + encodedValueSize(p.value) + 12;
    for (const h of p.hops) n += utf8Size(h) + 5;
    if (cause) n += 3 * 5 + 8 + 2048;
    return n;
  }

  /** Packets of the dirty points, one packet's worth (or one point split). */
  #changePackets(): Uint8Array[] {
    const out: Uint8Array[] = [];
    const w = this.#writer;
    let index = 0;
    const gone = this.#gone;
    while (this.#goneHead < gone.length) {
      const p = gone[this.#goneHead]!;
      const est = this.#estimate({ id: p.id, hops: p.hops, value: null }, false);
      if (index > 0 && w.bytes - frameHeaderSize + est > this.#room) break;
      this.#goneHead++;
      if (p.hops.includes(this.#peer)) continue;
      this.#stats.changesSent++;
      this.#writeRemoval(w, index++, p);
    }
    if (this.#goneHead === gone.length) {
      this.#gone = [];
      this.#goneHead = 0;
    }
    // The dirty points only once every pending removal is written.
    while (this.#gone.length === 0 && this.#head < this.#queue.length) {
      const slot = this.#queue[this.#head]!;
      const p = this.#points[slot]!;
      const removed = pointSlot(p) !== slot;
      const est = this.#estimate(p, p.cause !== null);
      if (index > 0 && w.bytes - frameHeaderSize + est > this.#room) break;
      this.#head++;
      this.#dirty[slot] = 0;
      this.#points[slot] = undefined;
      if (p.hops.includes(this.#peer)) continue;
      this.#stats.changesSent++;
      if (removed) {
        this.#writeRemoval(w, index++, p);
        continue;
      }
      this.#tombstones.delete(p.id);
      if (index === 0 && est > this.#room) {
        this.#writePoint(w, 0, p);
        out.push(...this.#fragments(Flag.Change, this.#body(w)));
        index = 0;
        break;
      }
      this.#writePoint(w, index++, p);
    }
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
    if (index > 0) out.push(this.#dataPacket(Flag.Change, this.#body(w)));
    this.#stats.changePackets += out.length;
    return out;
  }

  /** The next carousel packet (or the fragments of one large point). */
  #carouselPackets(): Uint8Array[] {
    const w = this.#writer;
    const points = this.#cyclePoints;
    let index = 0;
    const out: Uint8Array[] = [];
    while (this.#cursor < points.length) {
      const p = points[this.#cursor]!;
      if (pointSlot(p) < 0 || p.hops.includes(this.#peer)) {
        this.#cursor++;
        continue;
      }
      const est = this.#estimate(p, p.cause !== null);
      if (index > 0 && w.bytes - frameHeaderSize + est > this.#room) break;
      this.#cursor++;
      if (index === 0 && est > this.#room) {
        this.#writePoint(w, 0, p);
        out.push(...this.#fragments(0, this.#body(w)));
        this.#stats.carouselPackets += out.length;
        return out;
      }
      this.#writePoint(w, index++, p);
    }
    if (index > 0) out.push(this.#dataPacket(0, this.#body(w)));
    this.#stats.carouselPackets += out.length;
    return out;
  }

  /** Points removed lately, announced again at the end of a cycle. */
  #tombstonePackets(): Uint8Array[] {
    if (this.#tombstones.size === 0) return [];
    const w = this.#writer;
    const out: Uint8Array[] = [];
    let index = 0;
    for (const t of [...this.#tombstones.values()]) {
      const est = this.#estimate({ id: t.id, hops: t.hops, value: null }, false);
      if (index > 0 && w.bytes - frameHeaderSize + est > this.#room) {
        out.push(this.#dataPacket(0, this.#body(w)));
        index = 0;
      }
      w.definition(index, t.id, t.type, t.hops);
      w.removal(index++);
      if (++t.cycles >= tombstoneCycles) this.#tombstones.delete(t.id);
    }
    if (index > 0) out.push(this.#dataPacket(0, this.#body(w)));
    return out;
  }

  /** A removed point, under a packet-local index; announced again in the next cycles. */
  #writeRemoval(w: DataFrameWriter, index: number, p: StoredPoint): void {
    w.definition(index, p.id, p.type, p.hops);
    w.removal(index);
    this.#tombstones.set(p.id, { id: p.id, type: p.type, hops: p.hops, cycles: 0 });
  }

  #writePoint(w: DataFrameWriter, index: number, p: StoredPoint): void {
    w.definition(index, p.id, p.type, p.hops);
    if (exceedsSize(p.value, this.#ctx!.config.maxValue)) {
      w.state(index, null, Status.BadEncodingLimitsExceeded, p.time, {
        hop: this.#ctx!.hop,
        via: this.name,
        since: this.#ctx!.clock.now(),
        reason: `its value exceeds --max-value (${this.#ctx!.config.maxValue} bytes)`,
      });
    } else w.state(index, p.value, p.status, p.time, p.cause);
  }

  /** The records written so far, without the tunnel's frame header. */
  #body(w: DataFrameWriter): Uint8Array {
    return w.finish().subarray(frameHeaderSize);
  }

  #dataPacket(flags: number, body: Uint8Array): Uint8Array {
    const plain = this.#inner(Kind.Data, flags, body.length);
    plain.set(body, innerBytes);
    return plain;
  }

  /**
   * One point too large for a packet, split: each fragment carries the id of
   * the split (its first fragment's packet number), its part and the count.
   */
  #fragments(flags: number, body: Uint8Array): Uint8Array[] {
    const room = this.#room - 8;
    const parts = Math.ceil(body.length / room);
    const splitId = this.#splits = (this.#splits + 1) >>> 0;
    const out: Uint8Array[] = [];
    for (let i = 0; i < parts; i++) {
      const chunk = body.subarray(i * room, (i + 1) * room);
      const plain = this.#inner(Kind.Data, flags | Flag.Fragment, 8 + chunk.length);
      const v = new DataView(plain.buffer);
      v.setUint32(innerBytes, splitId);
      v.setUint16(innerBytes + 4, i);
      v.setUint16(innerBytes + 6, parts);
      plain.set(chunk, innerBytes + 8);
      out.push(plain);
    }
    return out;
  }

  /** Seals and sends a round's plaintexts, in order. */
  async #send(plains: Uint8Array[]): Promise<void> {
    const key = this.#key!;
    const first = this.#seq;
    this.#seq += plains.length;
    const sealed = await Promise.all(
      plains.map((p, i) =>
        seal(key.key, { keyId: key.id, epoch: this.#epoch, seq: first + i }, this.#link, p)
      ),
    );
    const due = this.#ctx!.clock.now() + this.#repeatDelay;
    for (const [i, p] of plains.entries()) {
      if (p[0] !== Kind.Data || (p[1]! & Flag.Change) === 0) continue;
      this.#repeats.push({ due, seq: first + i, plain: p });
      if (this.#repeats.length - this.#repeatHead > maxRepeats) this.#repeatHead++;
    }
    const socket = this.#socket;
    if (!socket) return;
    for (const packet of sealed) {
      socket.send(packet, this.#port, this.#host, this.#sent);
      this.#stats.packets++;
      this.#stats.bytes += packet.length + wireOverhead;
    }
  }
}
