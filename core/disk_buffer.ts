/**
 * A bounded, ordered, on-disk queue of opaque records: the store-and-forward
 * of any sink whose far end is unreachable (the MQTT bridge, first). Records
 * survive a restart of the hop, and a crash or power loss up to the last
 * {@link DiskBuffer.sync}; when the buffer is over its size or a record over
 * its age, the oldest records are dropped first and counted.
 *
 * Layout: numbered segment files (`00000001.seg`), each an 8-byte header
 * (`HGSF`, u32 version 2) then frames
 * `[u32 CRC-32 of the rest of the frame][u32 length][f64 epoch ms][bytes]`
 * (little-endian), plus a `cursor` file saying how far the oldest segment has
 * been delivered, so a restart re-sends nothing delivered. The length and
 * checksum let {@link DiskBuffer.open} find a segment cut short by a crash or
 * corrupted: the good records before the damage are kept, the rest is dropped,
 * reported in {@link DiskBuffer.repairs} and cut off the file. Segments of the
 * first version (no header, frames `[u32 length][f64 epoch ms][bytes]`, no
 * checksum) are still read; new records always go to a new-format segment.
 */
import { basename, join } from "node:path";
// Deno's node:zlib provides crc32 (native, about 40 GB/s here): no table of our own is needed.
import { crc32 } from "node:zlib";
import { syncDir } from "./atomic_file.ts";
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

/**
 * A damaged segment found (and repaired) when the buffer was opened, so the
 * owner can log what a crash or a corruption cost: the records before the
 * damage are kept, the damaged record and everything after it are dropped.
 */
export interface SegmentRepair {
  /** The segment's file name (in {@link DiskBuffer.dir}). */
  file: string;
  /** Good records kept, before the damage. */
  kept: number;
  /**
   * Records dropped: the damaged one, plus any intact records that still
   * followed it (found by walking their lengths; they cannot be trusted to be
   * in sequence after a damaged record, so they go too).
   */
  dropped: number;
  /** Bytes cut off the file, from the damaged record on. */
  droppedBytes: number;
  /** What was wrong with the first damaged record. */
  cause: "cut short" | "bad checksum" | "impossible length";
}

interface Segment {
  seq: number;
  path: string;
  bytes: number;
  records: number;
  /** Times of its first and last records. */
  oldest: number;
  newest: number;
  /** Written by the first version (no checksums): read, never appended to. */
  legacy: boolean;
}

/** The first 8 bytes of a segment file of this version: `HGSF`, then u32 version 2. */
const fileHeader = new Uint8Array([0x48, 0x47, 0x53, 0x46, 2, 0, 0, 0]);
/** Bytes before a record's data: CRC-32, length, time. */
const frameHeader = 16;
/** Frame header of the first version: length, time. */
const legacyFrameHeader = 12;
/**
 * Largest record: a length beyond it can only be corruption. Far above what
 * any sink appends (the MQTT bridge's records are 5,000 updates).
 */
const maxRecordBytes = 256 << 20;

/** The result of reading a segment file: its good records and where they end. */
interface Parsed {
  records: BufferedRecord[];
  /** Offset just past the last good record (the file is cut to it). */
  end: number;
  legacy: boolean;
  damage?: Omit<SegmentRepair, "file" | "kept">;
}

/** Frames a record: `[u32 CRC-32 of what follows][u32 length][f64 time][bytes]`. */
function frame(data: Uint8Array, time: number): Uint8Array {
  const f = new Uint8Array(frameHeader + data.length);
  const view = new DataView(f.buffer);
  view.setUint32(4, data.length, true);
  view.setFloat64(8, time, true);
  f.set(data, frameHeader);
  view.setUint32(0, crc32(f.subarray(4)), true);
  return f;
}

/** Checks the frame at `o`: its length, or why it is damaged. */
function checkFrame(data: Uint8Array, view: DataView, o: number): number | SegmentRepair["cause"] {
  if (o + frameHeader > data.length) return "cut short";
  const len = view.getUint32(o + 4, true);
  if (len > maxRecordBytes) return "impossible length";
  if (o + frameHeader + len > data.length) return "cut short";
  const sum = crc32(data.subarray(o + 4, o + frameHeader + len));
  return sum === view.getUint32(o, true) ? len : "bad checksum";
}

/**
 * Reads a segment's frames up to the first damaged one (a crash while
 * writing, or corruption); what follows it is counted, not returned.
 */
function parseSegment(data: Uint8Array): Parsed {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const n = Math.min(data.length, fileHeader.length);
  if (!fileHeader.subarray(0, n).every((b, i) => data[i] === b)) return parseLegacy(data, view);
  // A header cut short: the segment was just made when the crash came, and holds nothing.
  if (n < fileHeader.length) return { records: [], end: 0, legacy: false };
  const records: BufferedRecord[] = [];
  let o = fileHeader.length;
  while (o < data.length) {
    const len = checkFrame(data, view, o);
    if (typeof len !== "number") {
      // Intact frames after the damage are counted by walking lengths while they check out.
      let dropped = 1;
      const badLen = o + frameHeader <= data.length ? view.getUint32(o + 4, true) : Infinity;
      let p = o + frameHeader + badLen;
      while (p < data.length) {
        const next = checkFrame(data, view, p);
        if (typeof next !== "number") break;
        dropped++;
        p += frameHeader + next;
      }
      return {
        records,
        end: o,
        legacy: false,
        damage: { dropped, droppedBytes: data.length - o, cause: len },
      };
    }
    records.push({
      time: view.getFloat64(o + 8, true),
      data: data.subarray(o + frameHeader, o + frameHeader + len),
    });
    o += frameHeader + len;
  }
  return { records, end: o, legacy: false };
}

/** Reads a segment of the first version, which only a torn last frame can damage. */
function parseLegacy(data: Uint8Array, view: DataView): Parsed {
  const records: BufferedRecord[] = [];
  let o = 0;
  while (o + legacyFrameHeader <= data.length) {
    const len = view.getUint32(o, true);
    if (o + legacyFrameHeader + len > data.length) break;
    records.push({
      time: view.getFloat64(o + 4, true),
      data: data.subarray(o + legacyFrameHeader, o + legacyFrameHeader + len),
    });
    o += legacyFrameHeader + len;
  }
  const damage = o < data.length
    ? { dropped: 1, droppedBytes: data.length - o, cause: "cut short" as const }
    : undefined;
  return { records, end: o, legacy: true, ...(damage ? { damage } : {}) };
}

/** Writes all of `data` to `file` (a write may take less than all). */
function writeAll(file: Deno.FsFile, data: Uint8Array): void {
  let o = 0;
  // Each round writes at least one byte, or throws: bounded by the length.
  while (o < data.length) o += file.writeSync(data.subarray(o));
}

/** Flushes a file's data to the disk (fdatasync), so it survives a power loss. */
async function syncFile(path: string): Promise<void> {
  const file = await Deno.open(path, { write: true });
  try {
    await file.syncData();
  } finally {
    file.close();
  }
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
  #repairs: SegmentRepair[] = [];
  /** Segment files appended to since the last {@link sync}. */
  #unsynced = new Set<string>();
  /** A segment file was made since the last {@link sync}: the folder needs syncing too. */
  #dirUnsynced = false;

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

  /**
   * Opens (creating if needed) the buffer in `dir`, picking up what a previous
   * run left. A segment cut short by a crash or corrupted keeps its records
   * before the damage; the rest is cut off the file (so the next open finds it
   * sound) and reported in {@link repairs}, for the owner to log.
   */
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
      const { records, end, legacy, damage } = parseSegment(data);
      if (damage) b.#repairs.push({ file: basename(path), kept: records.length, ...damage });
      if (records.length === 0) {
        await Deno.remove(path);
        continue;
      }
      if (end < data.length) {
        await Deno.truncate(path, end);
        await syncFile(path);
      }
      b.#segments.push({
        seq,
        path,
        bytes: end,
        records: records.length,
        oldest: records[0]!.time,
        newest: records[records.length - 1]!.time,
        legacy,
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

  /**
   * When the oldest record waiting was appended (epoch ms), for its age in
   * the status endpoint; `null` when none waits. Past a partly delivered
   * first segment not read back yet, its first record's time (an upper bound on the age).
   */
  get oldestTime(): number | null {
    if (this.records === 0) return null;
    return this.#head?.[this.#cursor]?.time ?? this.#segments[0]?.oldest ?? null;
  }

  /** Records dropped (size or age limit) since this buffer was opened. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Damaged segments {@link open} found and cut back to their good records, one entry each. */
  get repairs(): readonly SegmentRepair[] {
    return this.#repairs;
  }

  /**
   * Appends one record, synchronously, so that what was accepted is in the
   * OS cache even if the process is then killed; call {@link sync} once per
   * group of appends to have it survive a power loss too. Returns how many
   * old records the limits dropped to make room.
   */
  append(data: Uint8Array): number {
    if (data.length > maxRecordBytes) {
      throw new Error(
        `A record of ${data.length} bytes is over the ${maxRecordBytes}-byte limit of the disk buffer in ${this.dir}; append it in smaller parts`,
      );
    }
    const now = this.#clock.now();
    let tail = this.#segments[this.#segments.length - 1];
    const f = frame(data, now);
    let out = f;
    if (
      !tail || tail.legacy ||
      tail.bytes + f.length > this.#opts.segmentBytes && tail.bytes > 0
    ) {
      const seq = (tail?.seq ?? 0) + 1;
      tail = {
        seq,
        path: this.#path(seq),
        bytes: 0,
        records: 0,
        oldest: now,
        newest: now,
        legacy: false,
      };
      out = new Uint8Array(fileHeader.length + f.length);
      out.set(fileHeader);
      out.set(f, fileHeader.length);
    }
    const file = Deno.openSync(tail.path, { append: true, create: true });
    try {
      writeAll(file, out);
    } catch (e) {
      // A part written (a full disk) would be a damaged record in the middle of the segment.
      try {
        file.truncateSync(tail.bytes);
      } catch { /* the next open cuts it off */ }
      throw e;
    } finally {
      file.close();
    }
    if (tail.bytes === 0) {
      this.#segments.push(tail);
      this.#dirUnsynced = true;
    }
    this.#unsynced.add(tail.path);
    tail.bytes += out.length;
    tail.records++;
    tail.newest = now;
    if (this.#segments.length === 1 && this.#head) {
      this.#head.push({ time: now, data });
    }
    return this.#enforce(now);
  }

  /**
   * Makes every record appended so far survive a power loss: one fdatasync
   * per segment file written since the last call (and of the folder when a
   * segment was made), not one per record, so that the cost stays small when
   * called once per flush interval. Measured (core/disk_buffer_bench.ts, ext4
   * on a virtual disk, 1 KB records): about 190,000 records/s without sync,
   * 41,000 with one sync per 20 records (a sync costs about 0.4 ms), 3,400
   * with one per record.
   */
  async sync(): Promise<void> {
    const paths = [...this.#unsynced];
    const dir = this.#dirUnsynced;
    this.#unsynced.clear();
    this.#dirUnsynced = false;
    try {
      for (const path of paths) {
        // A segment the limits or an ack removed meanwhile needs no syncing.
        await syncFile(path).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        });
      }
      if (dir) await syncDir(this.dir);
    } catch (e) {
      // Tried again at the next call.
      for (const p of paths) this.#unsynced.add(p);
      this.#dirUnsynced ||= dir;
      throw e;
    }
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
      this.#head = parseSegment(await Deno.readFile(head.path)).records;
      if (this.#head.length < head.records) {
        // Damaged since it was opened (the disk, or someone else): what is left is delivered.
        this.#dropped += head.records - this.#head.length;
        head.records = this.#head.length;
        this.#cursor = Math.min(this.#cursor, head.records);
      }
    }
    if (this.#cursor >= head.records) {
      // All of it delivered (a repair at open or above left no more): on to the next segment.
      await this.ack(0);
      return this.peek(max);
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
