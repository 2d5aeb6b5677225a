/**
 * The receiving side of a data diode, one source per sending hop
 * (`diode:<peer>`): packets the listener has authenticated and found fresh,
 * applied to the store under the same rules as a tunnel link (a peer speaks
 * only for points that passed through it, of the origins it may carry, that
 * no other source holds; each value is typed by its declared type, and one
 * that does not fit arrives Bad). It never sends anything and takes no
 * writes: a point that came over a diode has no way back to its origin, so
 * the hop answers a write to it with BadNotWritable.
 *
 * Honest status without acknowledgements: every packet carries the count of
 * change packets sent so far, so a lost change is noticed; when neither
 * parity nor the change's repeat has brought it back within --heartbeat, the
 * sender may have changed any point,
 * and every point of the link turns UncertainNoCommunicationLastUsableValue
 * with the cause (this hop, `diode:<peer>`, since, "gap") until a newer
 * packet (the carousel's, at the latest) brings it again. No packet for
 * --link-timeout does the same with "silence".
 */
import {
  type Adapter,
  type AdapterStatus,
  type DataType,
  type FailureCause,
  fitValue,
  type HopContext,
  hopNamePattern,
  isStatusCode,
  notStarted,
  originHop,
  type Point,
  Status,
  unfit,
  validTime,
  type Value,
} from "../../core/mod.ts";
import { DataReader, type DataVisitor, ProtocolError, tooLarge } from "../../tunnel/mod.ts";
import { join } from "node:path";
import { Flag, innerBytes, Kind, readInner } from "./diode_packet.ts";
import { keepEpoch, readEpoch } from "./epoch.ts";
import type { DiodePeer } from "./options.ts";
import { ReplayWindow } from "./replay_window.ts";
import { paritySize, repair } from "./xor_parity.ts";
import { DiodeHealth } from "./diode_health.ts";

/** Plaintexts kept for repair by a later parity packet. */
const ringSize = 1024;
/** Splits of large points being put together at once; the oldest is dropped beyond. */
const maxSplits = 32;
/** Missing change packets beyond this are one gap at once, not remembered one by one. */
const maxMissing = 50_000;

/** Counters of one sending hop's packets. */
export interface DiodePeerStats {
  /** Authenticated, fresh packets taken. */
  packets: number;
  /** Packets parity brought back, and change packets whose repeat arrived instead. */
  repaired: number;
  /** Change packets whose repeat arrived instead. */
  repeated: number;
  /** Change packets lost beyond repair, and the gaps they made. */
  lostChanges: number;
  /** Gaps: runs of lost change packets, each turning the link's points uncertain. */
  gaps: number;
  /** Silences longer than --link-timeout. */
  silences: number;
  /** Points refused (origin, path, ownership or limits). */
  refusedPoints: number;
  /** Authenticated packets whose body did not decode (a sender's bug). */
  malformed: number;
}

/** A split being put together. */
interface Split {
  parts: (Uint8Array | undefined)[];
  got: number;
  seq: number;
}

/** One sending hop's packets, applied to the store (`diode:<peer>`). */
export class DiodePeerSource implements Adapter, DataVisitor {
  readonly name: string;
  readonly kind = "diode";
  /** The sending hop. */
  readonly peer: string;
  /** Which of its packets are fresh; the listener checks and moves it. */
  readonly window = new ReplayWindow();
  #allowed: string[];
  #ctx: HopContext | null = null;
  #timer = 0;
  #epochFile = "";
  #reader: DataReader | null = null;
  #health: DiodeHealth | null = null;

  /** The packet number that last set each point (its state or its removal). */
  #lastSeq = new Map<string, number>();
  #ring = new Map<number, Uint8Array>();
  /** The carousel cycle of the packet being read, the last one each point was named in, */
  #cycle = 0;
  #seenCycle = new Map<string, number>();
  /** carousel packets taken per cycle, and the last cycle swept. */
  #cyclePackets = new Map<number, number>();
  #swept = -1;
  #splits = new Map<number, Split>();
  /** The highest change number known to have been sent (-1: none known in this epoch). */
  #changeHigh = -1;
  /** Change numbers not received, with when they were first missed. */
  #missing = new Map<number, number>();
  #lastPacketAt = 0;
  #silent = false;
  /** Points the sender holds, from its last heartbeat. */
  #senderPoints = -1;
  #refusedOrigins = new Set<string>();
  #stats: DiodePeerStats = {
    packets: 0,
    repaired: 0,
    repeated: 0,
    lostChanges: 0,
    gaps: 0,
    silences: 0,
    refusedPoints: 0,
    malformed: 0,
  };

  // The packet being read: its number and its definitions by index.
  #seq = 0;
  #defIds: (string | undefined)[] = [];
  #defTypes: DataType[] = [];
  #defHops: string[][] = [];
  #update: Point = {
    id: "",
    value: null,
    type: "Double",
    status: 0,
    time: 0,
    hops: [],
    cause: null,
  };

  /** The source of points `peer` sends over its diode. */
  constructor(peer: DiodePeer) {
    this.peer = peer.name;
    this.name = `diode:${peer.name}`;
    this.#allowed = [peer.name, ...peer.relays];
  }

  /** Counters so far. */
  stats(): DiodePeerStats {
    return { ...this.#stats };
  }

  async start(ctx: HopContext): Promise<void> {
    this.#ctx = ctx;
    const c = ctx.config;
    this.#reader = new DataReader({ maxId: c.maxId, maxHops: c.maxHops, maxValue: c.maxValue });
    this.#epochFile = join(c.dataDir, `diode-recv-${this.peer}.epoch`);
    const kept = await readEpoch(this.#epochFile);
    // Packets of runs before the newest one seen are replays, also across this hop's restarts.
    this.window.startAt(kept);
    this.#health = new DiodeHealth(ctx.store, this.peer);
    ctx.status.running("running");
    ctx.status.connection("connecting");
    const every = Math.max(20, Math.min(250, c.linkTimeout / 4, c.heartbeat / 2));
    const tick = () => {
      this.#check();
      this.#timer = ctx.clock.setTimeout(tick, every);
    };
    this.#timer = ctx.clock.setTimeout(tick, every);
  }

  stop(): Promise<void> {
    this.#ctx?.clock.clearTimeout(this.#timer);
    this.#ctx?.status.running("stopped");
    this.#ctx?.status.connection("down");
    return Promise.resolve();
  }

  status(): AdapterStatus {
    return this.#ctx?.status.get() ?? notStarted(this);
  }

  /**
   * An authenticated packet the window found fresh (and has taken).
   * `newEpoch`: the sender has started again.
   */
  packet(epoch: number, seq: number, plain: Uint8Array, newEpoch: boolean): void {
    const ctx = this.#ctx;
    if (!ctx) return;
    const now = ctx.clock.now();
    if (newEpoch) this.#newEpoch(epoch);
    this.#lastPacketAt = now;
    if (this.#silent || ctx.status.get().connection !== "connected") {
      if (this.#silent) ctx.log.info("Packets from {peer} again", { peer: this.peer });
      this.#silent = false;
      ctx.status.connection("connected");
    }
    this.#take(seq, plain, now);
  }

  #take(seq: number, plain: Uint8Array, now: number): void {
    this.#stats.packets++;
    const inner = readInner(plain);
    if (inner.kind !== Kind.Parity) {
      this.#ring.set(seq, plain);
      if (this.#ring.size > ringSize) {
        for (const s of this.#ring.keys()) {
          this.#ring.delete(s);
          if (this.#ring.size <= ringSize) break;
        }
      }
    }
    this.#trackChanges(
      inner.kind === Kind.Data && (inner.flags & Flag.Change) !== 0,
      inner.changeNo,
      now,
    );
    const body = plain.subarray(innerBytes);
    this.#cycle = inner.cycle;
    if (inner.kind === Kind.Data && (inner.flags & Flag.Change) === 0) {
      this.#cyclePackets.set(inner.cycle, (this.#cyclePackets.get(inner.cycle) ?? 0) + 1);
    }
    if (inner.kind === Kind.Data) {
      if (inner.flags & Flag.Fragment) this.#fragment(seq, body);
      else this.#apply(seq, body);
    } else if (inner.kind === Kind.Heartbeat && body.length >= 16) {
      const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
      this.#senderPoints = v.getUint32(0);
      this.#cycleEnded(v.getUint32(8), v.getUint32(12));
    } else if (inner.kind === Kind.Parity) this.#repair(seq, body, now);
    else if (inner.kind === Kind.Repeat) this.#repeated(body, now);
  }

  /**
   * The sender completed carousel cycle `cycle` in `packets` carousel packets:
   * if every one of them arrived, a point of this link that none of them
   * (nor a change since) named is one the sender no longer has.
   */
  #cycleEnded(cycle: number, packets: number): void {
    if (cycle === 0xffff_ffff || cycle <= this.#swept) return;
    for (const c of this.#cyclePackets.keys()) if (c < cycle - 4) this.#cyclePackets.delete(c);
    if (this.#cyclePackets.get(cycle) !== packets) return;
    this.#swept = cycle;
    const store = this.#ctx!.store;
    const gone = [...store.fromOrigin(this.name)].filter((p) =>
      (this.#seenCycle.get(p.id) ?? -1) < cycle
    );
    for (const p of gone) {
      store.remove(p.id);
      this.#seenCycle.delete(p.id);
    }
    if (gone.length > 0) {
      this.#ctx!.log.info(
        "Removed {n} points that {peer} no longer has (none of them in carousel cycle {cycle})",
        { n: gone.length, peer: this.peer, cycle },
      );
    }
  }

  #newEpoch(epoch: number): void {
    this.#seenCycle.clear();
    this.#cyclePackets.clear();
    this.#swept = -1;
    this.#lastSeq.clear();
    this.#ring.clear();
    this.#splits.clear();
    this.#missing.clear();
    this.#changeHigh = -1;
    keepEpoch(this.#epochFile, epoch).catch((e) =>
      this.#ctx?.log.warn("Cannot keep the diode epoch of {peer}: {error}", {
        peer: this.peer,
        error: (e as Error).message,
      })
    );
    this.#ctx?.log.info("{peer} sends in epoch {epoch}", { peer: this.peer, epoch });
  }

  /** Notes the change packets the sender has sent and which of them are still missing. */
  #trackChanges(isChange: boolean, changeNo: number, now: number): void {
    if (this.#changeHigh < 0) {
      // Joined a run under way: what came before arrives with the carousel.
      this.#changeHigh = changeNo;
      return;
    }
    if (isChange && this.#missing.delete(changeNo)) return;
    const upTo = isChange ? changeNo - 1 : changeNo;
    if (upTo - this.#changeHigh > maxMissing) {
      this.#gap(upTo - this.#changeHigh, now);
    } else {
      for (let n = this.#changeHigh + 1; n <= upTo; n++) this.#missing.set(n, now);
    }
    this.#changeHigh = Math.max(this.#changeHigh, changeNo);
  }

  /** Repairs the one missing packet of a parity group, if exactly one is missing. */
  #repair(seq: number, body: Uint8Array, now: number): void {
    const n = paritySize(body);
    if (n === 0 || n > seq) return;
    const others: Uint8Array[] = [];
    let lost = -1;
    for (let s = seq - n; s < seq; s++) {
      const p = this.#ring.get(s);
      if (p !== undefined) others.push(p);
      else if (lost >= 0) return;
      else lost = s;
    }
    if (lost < 0 || this.window.check(this.window.epoch, lost) !== "fresh") return;
    const plain = repair(body, others);
    if (plain === null || plain.length < innerBytes) return;
    this.window.take(this.window.epoch, lost);
    this.#stats.repaired++;
    this.#take(lost, plain, now);
  }

  /** A change packet sent again: taken as the original if that has not arrived. */
  #repeated(body: Uint8Array, now: number): void {
    if (body.length < 8 + innerBytes) return;
    const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const seq = v.getUint32(0) * 2 ** 32 + v.getUint32(4);
    const epoch = this.window.epoch;
    if (seq >= this.window.highest || this.window.check(epoch, seq) !== "fresh") return;
    this.window.take(epoch, seq);
    this.#stats.repeated++;
    this.#take(seq, body.slice(8), now);
  }

  #fragment(seq: number, body: Uint8Array): void {
    if (body.length < 8) return;
    const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const id = v.getUint32(0), part = v.getUint16(4), parts = v.getUint16(6);
    const c = this.#ctx!.config;
    // A split never needs more parts than the largest value with its id, path and cause.
    const most = Math.ceil((c.maxValue + c.maxId * 4 + c.maxHops * 64 + 4096) / 256);
    if (parts === 0 || part >= parts || parts > most) {
      this.#stats.malformed++;
      return;
    }
    let split = this.#splits.get(id);
    if (split === undefined) {
      split = { parts: new Array(parts), got: 0, seq };
      this.#splits.set(id, split);
      if (this.#splits.size > maxSplits) this.#splits.delete(this.#splits.keys().next().value!);
    }
    if (split.parts.length !== parts || split.parts[part] !== undefined) return;
    split.parts[part] = body.slice(8);
    split.got++;
    split.seq = Math.max(split.seq, seq);
    if (split.got < parts) return;
    this.#splits.delete(id);
    const whole = new Uint8Array(split.parts.reduce((n, p) => n + p!.length, 0));
    let at = 0;
    for (const p of split.parts) {
      whole.set(p!, at);
      at += p!.length;
    }
    this.#apply(split.seq, whole);
  }

  /** Applies one packet's records. */
  #apply(seq: number, body: Uint8Array): void {
    this.#seq = seq;
    this.#defIds.length = 0;
    try {
      this.#reader!.read(body, this);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.#stats.malformed++;
      this.#ctx!.log.warn("A packet from {peer} did not decode: {error}", {
        peer: this.peer,
        error: e.message,
      });
    }
    this.#ctx!.store.endBatch();
  }

  /** A point's definition within the packet, checked against what the peer may speak for. */
  definition(index: number, id: string, type: DataType, hops: string[]): void {
    if (index > 65_535) throw new ProtocolError(`Point index ${index} is out of range`);
    const origin = hops[0];
    const ok = hops.at(-1) === this.peer && origin !== undefined && origin === originHop(id) &&
      hops.every((h) => hopNamePattern.test(h)) && this.#allowed.includes(origin);
    if (!ok) {
      this.#refuse(id, `its origin or path (${hops.join(">")}) cannot come from ${this.peer}`);
      this.#defIds[index] = undefined;
      return;
    }
    this.#defIds[index] = id;
    this.#seenCycle.set(id, this.#cycle);
    this.#defTypes[index] = type;
    this.#defHops[index] = hops;
  }

  /** A point's state: applied when newer than what set the point last, and typed. */
  state(
    index: number,
    value: Value | typeof tooLarge,
    status: number,
    time: number,
    cause: FailureCause | null,
  ): void {
    const id = this.#defIds[index];
    if (id === undefined) return;
    const seq = this.#seq;
    const last = this.#lastSeq.get(id);
    // Older than what set the point last; the same packet may remove a point and bring it back.
    if (last !== undefined && last > seq) return;
    const ctx = this.#ctx!;
    const store = ctx.store;
    const existing = store.get(id);
    if (existing !== undefined && existing.origin !== this.name && existing.cause === null) {
      this.#refuse(id, `${existing.origin} holds it`);
      return;
    }
    if (existing === undefined && store.size >= ctx.config.maxPoints) {
      this.#refuse(id, `this hop holds --max-points (${ctx.config.maxPoints}) points`);
      return;
    }
    const type = this.#defTypes[index]!;
    const u = this.#update;
    const v = value === tooLarge ? unfit : fitValue(type, value);
    if (
      v === unfit || !isStatusCode(status) || !validTime(time) ||
      (cause !== null && !validTime(cause.since))
    ) {
      const now = ctx.clock.now();
      u.value = null;
      u.status = value === tooLarge
        ? Status.BadEncodingLimitsExceeded
        : Status.BadDataEncodingInvalid;
      u.time = now;
      u.cause = {
        hop: ctx.hop,
        via: this.name,
        since: now,
        reason: `${this.peer} sent a value, status or time that cannot be valid for ${type}`,
      };
    } else {
      u.value = v;
      u.status = status;
      u.time = time;
      u.cause = cause;
    }
    u.id = id;
    u.type = type;
    u.hops = this.#defHops[index]!;
    this.#lastSeq.set(id, seq);
    ctx.apply(u);
  }

  /** A point the sender no longer has. */
  removal(index: number): void {
    const id = this.#defIds[index];
    if (id === undefined) return;
    const last = this.#lastSeq.get(id);
    if (last !== undefined && last > this.#seq) return;
    this.#lastSeq.set(id, this.#seq);
    const store = this.#ctx!.store;
    if (store.get(id)?.origin === this.name) store.remove(id);
  }

  #refuse(id: string, why: string): void {
    this.#stats.refusedPoints++;
    const origin = originHop(id);
    if (this.#refusedOrigins.has(origin) || this.#refusedOrigins.size > 64) return;
    this.#refusedOrigins.add(origin);
    this.#ctx!.log.warn("Refused {id} from {peer}: {why}", { id, peer: this.peer, why });
  }

  /** Gaps parity did not repair in time, silence, and the health points. */
  #check(): void {
    const ctx = this.#ctx!;
    const now = ctx.clock.now();
    const wait = ctx.config.heartbeat;
    let lost = 0;
    for (const [n, since] of this.#missing) {
      if (now - since < wait) continue;
      this.#missing.delete(n);
      lost++;
    }
    if (lost > 0) this.#gap(lost, now);
    const timeout = ctx.config.linkTimeout;
    if (!this.#silent && this.#lastPacketAt > 0 && now - this.#lastPacketAt > timeout) {
      this.#silent = true;
      this.#stats.silences++;
      const reason = `silence: no packet from ${this.peer} for ${timeout} ms`;
      ctx.status.connection("down", reason);
      const n = this.#fail(reason, now);
      ctx.log.warn("No packet from {peer} for {ms} ms: {n} points Uncertain until it is back", {
        peer: this.peer,
        ms: timeout,
        n,
      });
    }
    const receiving = !this.#silent && this.#lastPacketAt > 0;
    this.#health!.update(this.#stats, receiving, this.#senderPoints, now);
  }

  /** Change packets lost beyond repair: every point of the link may be stale. */
  #gap(lost: number, now: number): void {
    this.#stats.lostChanges += lost;
    this.#stats.gaps++;
    const reason = `gap: ${lost} change packet${
      lost === 1 ? "" : "s"
    } from ${this.peer} lost beyond repair; the carousel refreshes the points`;
    this.#ctx!.status.error(reason);
    const n = this.#fail(reason, now);
    this.#ctx!.log.warn("Gap in the packets from {peer}: {lost} lost, {n} points Uncertain", {
      peer: this.peer,
      lost,
      n,
    });
  }

  /**
   * Fails every point of the link not set by a packet newer than the newest
   * taken, and holds each until a newer packet sets it again (a reordered
   * older one could bring back a stale value as Good).
   */
  #fail(reason: string, now: number): number {
    const ctx = this.#ctx!;
    const barrier = this.window.highest;
    const n = ctx.store.failOrigin(this.name, {
      hop: ctx.hop,
      via: this.name,
      since: now,
      reason,
    }, (p) => (this.#lastSeq.get(p.id) ?? -1) <= barrier);
    for (const p of ctx.store.fromOrigin(this.name)) {
      if ((this.#lastSeq.get(p.id) ?? -1) < barrier) this.#lastSeq.set(p.id, barrier);
    }
    return n;
  }

  /** Points the sender said it holds in its last heartbeat (-1 before one). */
  get senderPoints(): number {
    return this.#senderPoints;
  }
}
