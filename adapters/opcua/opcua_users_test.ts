import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert";
import { join } from "node:path";
import { addUser, checkUser, readUsers } from "./opcua_users.ts";

Deno.test("a user added to the users file logs in with its password only, and no password is stored", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hopgate-users-" });
  try {
    const path = join(dir, "users.json");
    await addUser(path, "alice", "correct horse");
    await addUser(path, "bob", "battery staple");
    const text = await Deno.readTextFile(path);
    assert(!text.includes("correct horse"), text);
    const file = await readUsers(path);
    assertEquals(await checkUser(file, "alice", "correct horse"), true);
    assertEquals(await checkUser(file, "alice", "battery staple"), false);
    assertEquals(await checkUser(file, "carol", "correct horse"), false);
    assertEquals(await checkUser(file, "constructor", "x"), false);
    if (Deno.build.os !== "windows") assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("short passwords and odd user names are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hopgate-users-" });
  try {
    const path = join(dir, "users.json");
    await rejects(addUser(path, "alice", "short"), /at least 8/);
    await rejects(addUser(path, "a b", "long enough"), /not a user name/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
