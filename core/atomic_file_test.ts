import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic_file.ts";

const entries = async (dir: string) => {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
};

Deno.test("writeFileAtomic writes the whole text, replaces the file, keeps its mode and leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "epoch");
    await writeFileAtomic(path, "1\n");
    assertEquals(await Deno.readTextFile(path), "1\n");
    const big = "x".repeat(1 << 20);
    await writeFileAtomic(path, big, { durable: true });
    assertEquals(await Deno.readTextFile(path), big);
    await writeFileAtomic(path, "secret\n", { mode: 0o600 });
    if (Deno.build.os !== "windows") assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    assertEquals(await entries(dir), ["epoch"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic leaves the old file and no temporary file when it cannot replace it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A folder in the way: the rename fails after the text was written beside it.
    const path = join(dir, "taken");
    await Deno.mkdir(path);
    await Deno.writeTextFile(join(path, "inside"), "kept");
    await rejects(writeFileAtomic(path, "new\n", { durable: true }));
    assertEquals(await entries(dir), ["taken"]);
    assertEquals(await Deno.readTextFile(join(path, "inside")), "kept");
    // No folder to write into: nothing is made.
    await rejects(writeFileAtomic(join(dir, "missing", "f"), "x"));
    assert((await entries(dir)).length === 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
