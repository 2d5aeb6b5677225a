/**
 * Files written whole or not at all: into a temporary file beside the target,
 * then renamed over it, so a reader (a hop watching a certificate, a hop
 * restarting after a crash) finds the old text or the new one, never a
 * truncated or half-written file.
 */

import { dirname } from "node:path";

/** How {@link writeFileAtomic} writes. */
export interface AtomicWriteOptions {
  /** Permission bits of the file (default 0644; 0600 for a private key). */
  mode?: number;
  /**
   * Flush the text and the rename to the disk before returning (fdatasync of
   * the file, fsync of its folder), for a record that must survive a power
   * loss (the diode's epochs). Default false.
   */
  durable?: boolean;
}

/** Writes `text` to `path` whole or not at all; the temporary file is removed on failure. */
export async function writeFileAtomic(
  path: string,
  text: string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const mode = options.mode ?? 0o644;
  const suffix = Array.from(
    crypto.getRandomValues(new Uint8Array(4)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const tmp = `${path}.${suffix}.tmp`;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode });
    try {
      const data = new TextEncoder().encode(text);
      // Each round writes at least one byte, or throws: bounded by the length.
      for (let o = 0; o < data.length;) o += await file.write(data.subarray(o));
      if (options.durable) await file.syncData();
    } finally {
      file.close();
    }
    if (Deno.build.os !== "windows") await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  if (options.durable) await syncDir(dirname(path));
}

/** Flushes a folder's entries (a new or renamed file) to the disk; Windows has no such step. */
export async function syncDir(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}
