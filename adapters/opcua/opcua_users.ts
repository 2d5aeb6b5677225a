/**
 * The users file of the OPC UA server: salted PBKDF2-SHA256 password
 * hashes (WebCrypto, no native dependency), written by `hopgate users add`.
 * Plain-text passwords are never stored or logged.
 */
import { dirname, join } from "node:path";
import { fromBase64, toBase64 } from "../../core/mod.ts";

/** One user's entry in the users file. */
export interface UserEntry {
  algorithm: "PBKDF2-SHA256";
  iterations: number;
  /** Base64. */
  salt: string;
  /** Base64 of the 32-byte derived key. */
  hash: string;
}

/** The users file: `{ "users": { "<name>": UserEntry } }`. */
export interface UsersFile {
  users: Record<string, UserEntry>;
}

/** OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256. */
const iterations = 600_000;

async function derive(password: string, salt: Uint8Array, rounds: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as Uint8Array<ArrayBuffer>, iterations: rounds },
    key,
    256,
  );
  return new Uint8Array(bits);
}

/** Reads a users file; a missing file has no users. */
export async function readUsers(path: string): Promise<UsersFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { users: {} };
    throw e;
  }
  const parsed = JSON.parse(text) as Partial<UsersFile>;
  return { users: parsed.users ?? {} };
}

/** Adds or replaces a user; the file is written readable by its owner only. */
export async function addUser(path: string, user: string, password: string): Promise<void> {
  if (!/^[^\s:]{1,64}$/.test(user)) {
    throw new Error(`"${user}" is not a user name: use 1 to 64 characters without spaces or ":"`);
  }
  if (password.length < 8) throw new Error("The password must have at least 8 characters");
  const file = await readUsers(path);
  const salt = crypto.getRandomValues(new Uint8Array(16));
  file.users[user] = {
    algorithm: "PBKDF2-SHA256",
    iterations,
    salt: toBase64(salt),
    hash: toBase64(await derive(password, salt, iterations)),
  };
  await Deno.writeTextFile(path, JSON.stringify(file, null, 2) + "\n", { mode: 0o600 });
  await Deno.chmod(path, 0o600).catch(() => {/* not supported on Windows */});
}

/** True when the user exists and the password matches (compared in constant time). */
export async function checkUser(file: UsersFile, user: string, password: string): Promise<boolean> {
  const entry = Object.hasOwn(file.users, user) ? file.users[user] : undefined;
  if (!entry || entry.algorithm !== "PBKDF2-SHA256") return false;
  const want = fromBase64(entry.hash);
  const got = await derive(password, fromBase64(entry.salt), entry.iterations);
  let diff = want.length ^ got.length;
  for (let i = 0; i < Math.min(want.length, got.length); i++) diff |= want[i]! ^ got[i]!;
  return diff === 0;
}

/** Reads the first line of stdin (the password piped to `hopgate users add`). */
async function readStdinLine(): Promise<string> {
  const reader = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    // Bounded: a password line is short; stop at the first newline or 64 KB.
    while (!text.includes("\n") && text.length < 65_536) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    reader.releaseLock();
  }
  return text.split(/\r?\n/)[0] ?? "";
}

/**
 * `hopgate users add <user>`: the password comes from `passwordFile` or
 * stdin, never from the command line (it would show in the process list).
 * Returns the path written.
 */
export async function usersAdd(
  user: string,
  options: { dataDir?: string; users?: string; passwordFile?: string },
): Promise<string> {
  const path = options.users ?? (options.dataDir ? join(options.dataDir, "users.json") : undefined);
  if (!path) throw new Error("Pass --data-dir <dir> (writes <dir>/users.json) or --users <file>");
  const password = options.passwordFile
    ? (await Deno.readTextFile(options.passwordFile)).split(/\r?\n/)[0] ?? ""
    : await readStdinLine();
  await Deno.mkdir(dirname(path), { recursive: true });
  await addUser(path, user, password);
  return path;
}
