import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { ManualClock } from "./clock.ts";
import { DiskBuffer } from "./disk_buffer.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "hopgate-buffer-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function drainAll(b: DiskBuffer, batch = 3): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const recs = await b.peek(batch);
    if (recs.length === 0) break;
    for (const r of recs) out.push(dec(r.data));
    await b.ack(recs.length);
  }
  return out;
}

Deno.test("disk buffer delivers records in append order across segment files", () =>
  withDir(async (dir) => {
    const b = await DiskBuffer.open(dir, { maxBytes: 1 << 20, maxAge: 0, segmentBytes: 64 });
    const want = Array.from({ length: 40 }, (_, i) => `record-${i}`);
    for (const w of want) b.append(enc(w));
    assertEquals(b.records, 40);
    assertEquals(await drainAll(b), want);
    assertEquals(b.records, 0);
    assertEquals([...Deno.readDirSync(dir)].length, 0);
  }));

Deno.test("disk buffer resumes after a restart without repeating delivered records", () =>
  withDir(async (dir) => {
    const opts = { maxBytes: 1 << 20, maxAge: 0, segmentBytes: 100 };
    const a = await DiskBuffer.open(dir, opts);
    for (let i = 0; i < 20; i++) a.append(enc(`r${i}`));
    const first = await a.peek(5);
    await a.ack(first.length);
    // A torn frame, as after a crash in the middle of a write, is cut off.
    const segs = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".seg"));
    const last = join(dir, segs.sort().at(-1)!);
    Deno.writeFileSync(last, new Uint8Array([200, 0, 0, 0, 1, 2]), { append: true });
    const b = await DiskBuffer.open(dir, opts);
    assertEquals(b.records, 15);
    assertEquals(await drainAll(b), Array.from({ length: 15 }, (_, i) => `r${i + 5}`));
    b.append(enc("after"));
    assertEquals(await drainAll(b), ["after"]);
  }));

Deno.test("disk buffer drops the oldest records first when over its size, and counts them", () =>
  withDir(async (dir) => {
    const b = await DiskBuffer.open(dir, { maxBytes: 1000, maxAge: 0, segmentBytes: 200 });
    let dropped = 0;
    for (let i = 0; i < 200; i++) dropped += b.append(enc(`record-${String(i).padStart(3, "0")}`));
    const left = await drainAll(b, 50);
    assertEquals(dropped, b.dropped);
    assertEquals(dropped + left.length, 200);
    assertEquals(left.at(-1), "record-199");
    assertEquals(left[0], `record-${String(dropped).padStart(3, "0")}`);
    assertEquals(b.bytes <= 1000, true);
  }));

Deno.test("disk buffer drops records older than its age limit", () =>
  withDir(async (dir) => {
    const clock = new ManualClock();
    const b = await DiskBuffer.open(dir, { maxBytes: 1 << 20, maxAge: 60_000, clock });
    b.append(enc("old-1"));
    b.append(enc("old-2"));
    clock.advance(50_000);
    b.append(enc("new"));
    clock.advance(20_000);
    assertEquals(await drainAll(b), ["new"]);
    assertEquals(b.dropped, 2);
  }));

/** The buffer's segment files, oldest first. */
function segments(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".seg")).sort()
    .map((n) => join(dir, n));
}

/** Bytes of each record `r<i>` as framed on disk: header 16 + data. */
const framed = (i: number) => 16 + `r${i}`.length;
/** Offset of record `i` in a segment holding r0, r1, …: after the 8-byte file header. */
const offsetOf = (i: number) =>
  8 + Array.from({ length: i }, (_, k) => framed(k)).reduce((a, b) => a + b, 0);

/** Writes `n` records `r0`… to one segment, synced, and returns its path. */
async function writeSegment(dir: string, n: number): Promise<string> {
  const a = await DiskBuffer.open(dir, { maxBytes: 1 << 20, maxAge: 0 });
  for (let i = 0; i < n; i++) a.append(enc(`r${i}`));
  await a.sync();
  const segs = segments(dir);
  assertEquals(segs.length, 1);
  assertEquals(Deno.statSync(segs[0]!).size, offsetOf(n));
  return segs[0]!;
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `r${from + i}`);

/** Reopens, checks the repair reported and the records replayed, and that a second open finds nothing. */
async function reopen(dir: string, repairs: unknown[], want: string[]) {
  const b = await DiskBuffer.open(dir, { maxBytes: 1 << 20, maxAge: 0 });
  assertEquals(b.repairs, repairs);
  assertEquals(b.records, want.length);
  const segs = segments(dir);
  if (segs.length === 1) assertEquals(Deno.statSync(segs[0]!).size, b.bytes);
  const again = await DiskBuffer.open(dir, { maxBytes: 1 << 20, maxAge: 0 });
  assertEquals(again.repairs, [], "the damaged segment was not cut back to its good records");
  assertEquals(await drainAll(b), want);
  // Appending after a repair goes on cleanly.
  b.append(enc("after"));
  await b.sync();
  const c = await DiskBuffer.open(dir, { maxBytes: 1 << 20, maxAge: 0 });
  assertEquals(c.repairs, []);
  assertEquals(await drainAll(c), ["after"]);
}

Deno.test("disk buffer keeps the records before a segment cut mid-record, and reports the cut", () =>
  withDir(async (dir) => {
    const seg = await writeSegment(dir, 100);
    const size = Deno.statSync(seg).size;
    Deno.truncateSync(seg, size - 3);
    const file = seg.slice(dir.length + 1);
    await reopen(dir, [{
      file,
      kept: 99,
      dropped: 1,
      droppedBytes: framed(99) - 3,
      cause: "cut short",
    }], range(0, 99));
  }));

Deno.test("disk buffer keeps the records before a corrupted one and drops it and the rest", () =>
  withDir(async (dir) => {
    const seg = await writeSegment(dir, 100);
    const data = Deno.readFileSync(seg);
    data[offsetOf(50) + 17]! ^= 0x01; // a bit of record r50's data
    Deno.writeFileSync(seg, data);
    await reopen(dir, [{
      file: seg.slice(dir.length + 1),
      kept: 50,
      dropped: 50,
      droppedBytes: offsetOf(100) - offsetOf(50),
      cause: "bad checksum",
    }], range(0, 50));
  }));

Deno.test("disk buffer finds a corrupted length and garbage after the last record", () =>
  withDir(async (dir) => {
    const seg = await writeSegment(dir, 20);
    // Garbage appended: its length field is all ones, more than any record can be.
    Deno.writeFileSync(seg, new Uint8Array(37).fill(0xff), { append: true });
    await reopen(dir, [{
      file: seg.slice(dir.length + 1),
      kept: 20,
      dropped: 1,
      droppedBytes: 37,
      cause: "impossible length",
    }], range(0, 20));

    const seg2 = await writeSegment(dir, 20);
    const data = Deno.readFileSync(seg2);
    data[offsetOf(7) + 5] = 0x40; // r7's length: 16 KB, past the end of the file
    Deno.writeFileSync(seg2, data);
    await reopen(dir, [{
      file: seg2.slice(dir.length + 1),
      kept: 7,
      dropped: 1,
      droppedBytes: offsetOf(20) - offsetOf(7),
      cause: "cut short",
    }], range(0, 7));
  }));

Deno.test("disk buffer finds a zero-filled tail, as a power loss can leave", () =>
  withDir(async (dir) => {
    const seg = await writeSegment(dir, 30);
    Deno.writeFileSync(seg, new Uint8Array(4096), { append: true });
    await reopen(dir, [{
      file: seg.slice(dir.length + 1),
      kept: 30,
      dropped: 1,
      droppedBytes: 4096,
      cause: "bad checksum",
    }], range(0, 30));
    // Zeros over the last records too (the file's size was written, its data not).
    const seg2 = await writeSegment(dir, 30);
    const data = Deno.readFileSync(seg2);
    data.fill(0, offsetOf(25));
    Deno.writeFileSync(seg2, data);
    await reopen(dir, [{
      file: seg2.slice(dir.length + 1),
      kept: 25,
      dropped: 1,
      droppedBytes: offsetOf(30) - offsetOf(25),
      cause: "bad checksum",
    }], range(0, 25));
  }));

Deno.test("disk buffer repairs a damaged segment and goes on with the segments after it", () =>
  withDir(async (dir) => {
    const opts = { maxBytes: 1 << 20, maxAge: 0, segmentBytes: 8 + 10 * framed(10) };
    const a = await DiskBuffer.open(dir, opts);
    for (let i = 0; i < 40; i++) a.append(enc(`r${i}`));
    await a.sync();
    const delivered = await a.peek(3);
    await a.ack(delivered.length);
    const segs = segments(dir);
    assert(segs.length >= 3, `${segs.length} segments`);
    assertEquals(Deno.statSync(segs[0]!).size, offsetOf(10), "r0-r9 in the first segment");
    // r6 damaged: r0-r2 were delivered, r3-r5 are kept, r6-r9 dropped; the next segments stay.
    Deno.truncateSync(segs[0]!, offsetOf(6) + 10);
    const b = await DiskBuffer.open(dir, opts);
    assertEquals(b.repairs.map((r) => [r.kept, r.dropped, r.cause]), [[6, 1, "cut short"]]);
    assertEquals(await drainAll(b), [...range(3, 6), ...range(10, 40)]);
  }));

Deno.test("disk buffer replays a head segment whose delivered records are all that survived", () =>
  withDir(async (dir) => {
    const opts = { maxBytes: 1 << 20, maxAge: 0, segmentBytes: offsetOf(10) };
    const a = await DiskBuffer.open(dir, opts);
    for (let i = 0; i < 20; i++) a.append(enc(`r${i}`));
    await a.ack((await a.peek(8)).length);
    // The cursor says 8 delivered; only 5 survive the damage.
    Deno.truncateSync(segments(dir)[0]!, offsetOf(5) + 2);
    const b = await DiskBuffer.open(dir, opts);
    assertEquals(b.records, 10);
    assertEquals(await drainAll(b), range(10, 20));
  }));

Deno.test("disk buffer reads segments of the first format and appends after them in the new one", () =>
  withDir(async (dir) => {
    // First format: [u32 length][f64 time][bytes], no header, no checksum; a torn last frame.
    const old = (s: string) => {
      const d = enc(s);
      const f = new Uint8Array(12 + d.length);
      new DataView(f.buffer).setUint32(0, d.length, true);
      new DataView(f.buffer).setFloat64(4, Date.now(), true);
      f.set(d, 12);
      return f;
    };
    const parts = [old("old-0"), old("old-1"), old("old-2").subarray(0, 9)];
    const bytes = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) bytes.set(p, (o += p.length) - p.length);
    Deno.writeFileSync(join(dir, "00000001.seg"), bytes);
    const b = await DiskBuffer.open(dir, { maxBytes: 1 << 20, maxAge: 0 });
    assertEquals(b.repairs, [{
      file: "00000001.seg",
      kept: 2,
      dropped: 1,
      droppedBytes: 9,
      cause: "cut short",
    }]);
    b.append(enc("new-0"));
    await b.sync();
    assertEquals(segments(dir).length, 2);
    const c = await DiskBuffer.open(dir, { maxBytes: 1 << 20, maxAge: 0 });
    assertEquals(c.repairs, []);
    assertEquals(await drainAll(c), ["old-0", "old-1", "new-0"]);
  }));

Deno.test("disk buffer sync is one flush per written segment and tolerates removed ones", () =>
  withDir(async (dir) => {
    const b = await DiskBuffer.open(dir, { maxBytes: 1 << 20, maxAge: 0, segmentBytes: 64 });
    for (let i = 0; i < 20; i++) b.append(enc(`record-${i}`));
    // Removes segments not yet synced.
    for (let acked = 0, i = 0; acked < 5 && i < 10; i++) {
      const n = Math.min(5 - acked, (await b.peek(5)).length);
      await b.ack(n);
      acked += n;
    }
    await b.sync();
    await b.sync(); // nothing left to sync
    assertEquals(await drainAll(b), range(5, 20).map((r) => `record-${r.slice(1)}`));
  }));
