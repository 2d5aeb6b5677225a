import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert";
import { join } from "node:path";
import { addDiodeKey, DiodeKeyError, readDiodeKeys } from "./diode_key.ts";

Deno.test("a diode key file lists keys by sending hop, each with its own id; the newest is last", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "diode.key");
    await addDiodeKey("plant1", file);
    await addDiodeKey("plant1", file);
    await addDiodeKey("plant2", file);
    assertEquals((await Deno.stat(file)).mode! & 0o777, 0o600);
    const keys = await readDiodeKeys(file);
    assertEquals(keys.map((k) => k.hop), ["plant1", "plant1", "plant2"]);
    assertEquals(new Set(keys.map((k) => k.id)).size, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a diode key file others can read, a malformed line or no key at all is refused with what to do", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "diode.key");
    await addDiodeKey("plant1", file);
    await Deno.chmod(file, 0o640);
    await rejects(readDiodeKeys(file), (e: Error) => {
      assert(e instanceof DiodeKeyError && /chmod 600/.test(e.message), e.message);
      return true;
    });
    await Deno.writeTextFile(file, "plant1 abcd\n", { mode: 0o600 });
    await Deno.chmod(file, 0o600);
    await rejects(readDiodeKeys(file), /Line 1 .* is not "<hop> <64 hex digits>"/);
    await Deno.writeTextFile(file, "# nothing yet\n");
    await rejects(readDiodeKeys(file), /holds no key/);
    await rejects(readDiodeKeys(join(dir, "missing.key")), /Cannot read diode key file/);
    await rejects(addDiodeKey("not a hop", file), /is not a hop name/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
