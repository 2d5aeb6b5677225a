/** `hopgate users add`: the password comes from stdin or a file, never from the command line. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { join } from "node:path";
import { checkUser, readUsers } from "../adapters/opcua/opcua_users.ts";
import { mainModule, tempDir } from "./kit/helpers.ts";

Deno.test("users add reads the password from stdin and writes a hash the server accepts", async () => {
  await using dir = await tempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", mainModule, "users", "add", "operator", "--data-dir", dir.path],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("long enough secret\n"));
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, text);
  assert(!text.includes("long enough secret"), text);
  const users = await readUsers(join(dir.path, "users.json"));
  assertEquals(await checkUser(users, "operator", "long enough secret"), true);
  assertEquals(await checkUser(users, "operator", "long enough secret\n"), false);
});
