import { deepStrictEqual as assertEquals } from "node:assert";
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
    out.push(...recs.map((r) => dec(r.data)));
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
