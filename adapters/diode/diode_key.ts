/**
 * The pre-shared keys of diode links. A diode has no return path, so no
 * handshake can agree a key: both ends hold the same 256-bit AES key, made
 * by `hopgate certs diode-key` and copied by hand. A key file holds one line
 * per key, `<sending hop> <64 hex digits>`; a sender uses its own newest
 * (last) line, a receiver accepts every line, which is how a key is rotated
 * with an overlap (docs/security.md). Like ssh, a file that its group or
 * others can read is refused: a key others have read authenticates nothing.
 */
import { type Clock, hopNamePattern } from "../../core/mod.ts";

/** One key of a diode link, ready for AES-256-GCM. */
export interface DiodeKey {
  /** The hop that sends with it. */
  hop: string;
  /** Names the key in each packet's header, so a receiver picks it without trying all. */
  id: number;
  /** The AES-256-GCM key itself (not extractable). */
  key: CryptoKey;
}

/** A key's id as the log shows it. */
export function keyName(key: DiodeKey): string {
  return key.id.toString(16).padStart(8, "0");
}

/** A key file that cannot be used, with the reason and what to do. */
export class DiodeKeyError extends Error {
  /** Names the error class in messages and logs. */
  override name = "DiodeKeyError";
}

const hexKey = /^[0-9a-f]{64}$/i;

/** The key id: the first 4 bytes of SHA-256 over the hop's name and the key. */
async function keyId(hop: string, raw: Uint8Array): Promise<number> {
  const data = new Uint8Array([...new TextEncoder().encode(`${hop}\n`), ...raw]);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return new DataView(digest.buffer).getUint32(0);
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Parses a key file's text; `file` names it in messages. */
export async function parseDiodeKeys(text: string, file: string): Promise<DiodeKey[]> {
  const out: DiodeKey[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [hop = "", hex = "", ...rest] = line.split(/\s+/);
    if (!hopNamePattern.test(hop) || !hexKey.test(hex) || rest.length > 0) {
      throw new DiodeKeyError(
        `Line ${
          i + 1
        } of diode key file "${file}" is not "<hop> <64 hex digits>"; make keys with: hopgate certs diode-key <hop>`,
      );
    }
    const bytes = hexBytes(hex);
    const key = await crypto.subtle.importKey("raw", bytes as BufferSource, "AES-GCM", false, [
      "encrypt",
      "decrypt",
    ]);
    out.push({ hop, id: await keyId(hop, bytes), key });
  }
  return out;
}

/**
 * Reads a key file, refusing one that its group or others may read, or that
 * holds no key.
 */
export async function readDiodeKeys(file: string): Promise<DiodeKey[]> {
  let text: string;
  try {
    const info = await Deno.stat(file);
    if (Deno.build.os !== "windows" && info.mode !== null && (info.mode & 0o077) !== 0) {
      throw new DiodeKeyError(
        `Diode key file "${file}" is readable by others (mode ${
          (info.mode & 0o777).toString(8)
        }); run chmod 600 "${file}"`,
      );
    }
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof DiodeKeyError) throw e;
    throw new DiodeKeyError(
      `Cannot read diode key file "${file}": ${
        (e as Error).message
      }; pass --diode-key or create it with: hopgate certs diode-key <sending hop>`,
    );
  }
  const keys = await parseDiodeKeys(text, file);
  if (keys.length === 0) {
    throw new DiodeKeyError(
      `Diode key file "${file}" holds no key; add one with: hopgate certs diode-key <sending hop>`,
    );
  }
  return keys;
}

/**
 * Appends a new random key for `hop` to `file` (created readable by its
 * owner only) and returns the line; copy the line to the other end's file.
 */
export async function addDiodeKey(hop: string, file: string): Promise<string> {
  if (!hopNamePattern.test(hop)) {
    throw new DiodeKeyError(`"${hop}" is not a hop name; name the hop that sends into the diode`);
  }
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  const line = `${hop} ${hex}\n`;
  await Deno.writeTextFile(file, line, { append: true, create: true, mode: 0o600 });
  if (Deno.build.os !== "windows") await Deno.chmod(file, 0o600);
  return line;
}

/** How often a running hop looks for a changed key file (a rotation needs no restart). */
export const keyReloadMs = 2000;

/**
 * Reads the key file again whenever its modification time changes, on
 * `clock`, until `signal` aborts; `onKeys` gets the new keys. A file that
 * cannot be used is reported through `onError` and the keys in use stay.
 */
export function watchDiodeKeys(
  file: string,
  clock: Clock,
  signal: AbortSignal,
  handlers: { onKeys(keys: DiodeKey[]): void; onError(e: Error): void },
): void {
  let last: number | null = null;
  const look = async () => {
    try {
      const mtime = (await Deno.stat(file)).mtime?.getTime() ?? 0;
      if (last !== null && mtime !== last) handlers.onKeys(await readDiodeKeys(file));
      last = mtime;
    } catch (e) {
      handlers.onError(e as Error);
    }
    if (!signal.aborted) timer = clock.setTimeout(() => void look(), keyReloadMs);
  };
  let timer = clock.setTimeout(() => void look(), 0);
  signal.addEventListener("abort", () => clock.clearTimeout(timer), { once: true });
}
