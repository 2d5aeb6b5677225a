/**
 * A bounded, ordered, on-disk queue of opaque records: the store-and-forward
 * of any sink whose far end is unreachable (the MQTT bridge, first). Records
 * survive a restart of the hop; when the buffer is over its size or a record
 * over its age, the oldest records are dropped first and counted.
 *
 * Layout: numbered segment files (`00000001.seg`) of frames
 * `[u32 length][f64 epoch ms][bytes]`, plus a `cursor` file saying how far the
 * oldest segment has been delivered, so a restart re-sends nothing delivered.
 */
import { join } from "node:path";
import { type Clock, systemClock } from "./clock.ts";

/** Limits of a disk buffer. */
export interface DiskBufferOptions {
  /** Most bytes kept on disk; the oldest segments go first beyond it. */
  maxBytes: number;
  /** Oldest record kept, in ms; 0 keeps records regardless of age. */
  maxAge: number;
  /** Size at which a new segment file is started (default maxBytes / 8, 16 KB to 4 MB). */
  segmentBytes?: number;
  /** Times records for `maxAge` (default the system clock). */
  clock?: Clock;
}

/** One record read back, with the time it was appended. */
export interface BufferedRecord {
  /** Epoch ms at which it was appended. */
  time: number;
  /** The record's bytes as appended. */
  data: Uint8Array;
}

interface Segment {
  seq: number;
  path: string;
  bytes: number;
  records: number;
  newest: number;
}

const frameHeader = 12;

/** Parses a segment's frames; a torn last frame (crash while writing) is cut off. */
function parseFrames(data: Uint8Array): { records: BufferedRecord[]; end: number } {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const records: BufferedRecord[] = [];
  let o = 0;
  while (o + frameHeader <= data.length) {
    const len = view.getUint32(o, true);
    if (o + frameHeader + len > data.length) break;
    records.push({
      time: view.getFloat64(o + 4, true),
      data: data.subarray(o + frameHeader, o + frameHeader + len),
    });
    o += frameHeader + len;
  }
  return { records, end: o };
}

/** A bounded on-disk FIFO of records. */
export class DiskBuffer {
  /** The folder of the segment files. */
  readonly dir: string;
  #opts: Required<Omit<DiskBufferOptions, "clock">>;
  #clock: Clock;
  #segments: Segment[] = [];
  /** Records of the oldest segment already delivered (acknowledged). */
  #cursor = 0;
  /** Parsed records of the oldest segment, loaded on first read. */
  #head: BufferedRecord[] | null = null;
  #dropped = 0;

  private constructor(dir: string, options: DiskBufferOptions) {
    this.dir = dir;
    this.#clock = options.clock ?? systemClock;
    this.#opts = {
      maxBytes: options.maxBytes,
      maxAge: options.maxAge,
      segmentBytes: options.segmentBytes ??
        Math.min(4 << 20, Math.max(16 << 10, Math.floor(options.maxBytes / 8))),
    };
  }

  /** Opens (creating if needed) the buffer in `dir`, picking up what a previous run left. */
  static async open(dir: string, options: DiskBufferOptions): Promise<DiskBuffer> {
    const b = new DiskBuffer(dir, options);
    await Deno.mkdir(dir, { recursive: true });
    const seqs: number[] = [];
    for await (const e of Deno.readDir(dir)) {
      const m = /^(\d{8,})\.seg$/.exec(e.name);
      if (e.isFile && m) seqs.push(Number(m[1]));
    }
    seqs.sort((a, b) => a - b);
    for (const seq of seqs) {
      const path = b.#path(seq);
      const data = await Deno.readFile(path);
      const { records, end } = parseFrames(data);
      if (end < data.length) await Deno.truncate(path, end);
      if (records.length === 0) {
        await Deno.remove(path);
        continue;
      }
      b.#segments.push({
        seq,
        path,
        bytes: end,
        records: records.length,
        newest: records[records.length - 1]!.time,
      });
    }
    try {
      const [seq, n] = (await Deno.readTextFile(join(dir, "cursor"))).trim().split(" ").map(Number);
      const head = b.#segments[0];
      if (head && head.seq === seq && Number.isInteger(n)) {
        b.#cursor = Math.min(n!, head.records);
      }
    } catch { /* no cursor: nothing of the oldest segment was delivered */ }
    return b;
  }

  /** Records waiting to be delivered. */
  get records(): number {
    let n = 0;
    for (const s of this.#segments) n += s.records;
    return n - this.#cursor;
  }

  /** Bytes on disk. */
  get bytes(): number {
    return this.#segments.reduce((a, s) => a + s.bytes, 0);
  }

  /** Records dropped (size or age limit) since this buffer was opened. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Appends one record, synchronously, so that what was accepted is on disk
   * (in the OS cache) even if the process is then killed. Returns how many
   * old records the limits dropped to make room.
   */
  append(data: Uint8Array): number {
    const now = this.#clock.now();
    let tail = this.#segments[this.#segments.length - 1];
    if (
      !tail || tail.bytes + frameHeader + data.length > this.#opts.segmentBytes && tail.bytes > 0
    ) {
      const seq = (tail?.seq ?? 0) + 1;
      tail = { seq, path: this.#path(seq), bytes: 0, records: 0, newest: now };
      this.#segments.push(tail);
    }
    const frame = new Uint8Array(frameHeader + data.length);
    const view = new DataView(frame.buffer);
    view.setUint32(0, data.length, true);
    view.setFloat64(4, now, true);
    frame.set(data, frameHeader);
    Deno.writeFileSync(tail.path, frame, { append: true, create: true });
    tail.bytes += frame.length;
    tail.records++;
    tail.newest = now;
    if (this.#segments.length === 1 && this.#head) {
      this.#head.push({ time: now, data });
    }
    return this.#enforce(now);
  }

  /**
   * Up to `max` of the oldest undelivered records, in append order, without
   * removing them: call {@link ack} once they are delivered.
   */
  async peek(max: number): Promise<BufferedRecord[]> {
    this.#enforce(this.#clock.now());
    const head = this.#segments[0];
    if (!head) return [];
    if (this.#head === null) {
      this.#head = parseFrames(await Deno.readFile(head.path)).records;
    }
    // Records too old by now are dropped rather than delivered.
    const minTime = this.#opts.maxAge > 0 ? this.#clock.now() - this.#opts.maxAge : -Infinity;
    let skipped = 0;
    while (
      this.#cursor + skipped < this.#head.length &&
      this.#head[this.#cursor + skipped]!.time < minTime
    ) {
      skipped++;
    }
    if (skipped > 0) {
      this.#dropped += skipped;
      await this.ack(skipped);
      return this.peek(max);
    }
    return this.#head.slice(this.#cursor, this.#cursor + max);
  }

  /** Marks the `n` oldest records as delivered; segments fully delivered are deleted. */
  async ack(n: number): Promise<void> {
    this.#cursor += n;
    for (;;) {
      const head = this.#segments[0];
      if (!head || this.#cursor < head.records) break;
      this.#cursor -= head.records;
      this.#segments.shift();
      this.#head = null;
      await Deno.remove(head.path).catch(() => {});
    }
    const head = this.#segments[0];
    const cursorFile = join(this.dir, "cursor");
    if (head && this.#cursor > 0) {
      await Deno.writeTextFile(cursorFile, `${head.seq} ${this.#cursor}\n`);
    } else await Deno.remove(cursorFile).catch(() => {});
  }

  /** Drops the oldest segments while over the size limit, and segments wholly too old. */
  #enforce(now: number): number {
    let dropped = 0;
    const minTime = this.#opts.maxAge > 0 ? now - this.#opts.maxAge : -Infinity;
    while (this.#segments.length > 1) {
      const head = this.#segments[0]!;
      if (this.bytes <= this.#opts.maxBytes && head.newest >= minTime) break;
      dropped += head.records - this.#cursor;
      this.#segments.shift();
      this.#cursor = 0;
      this.#head = null;
      for (const path of [head.path, join(this.dir, "cursor")]) {
        try {
          Deno.removeSync(path);
        } catch { /* already gone */ }
      }
    }
    this.#dropped += dropped;
    return dropped;
  }

  #path(seq: number): string {
    return join(this.dir, `${String(seq).padStart(8, "0")}.seg`);
  }
}
