/** `hopgate demo`: the whole chain in one command, a cut and a restore, and a clean exit. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { runHopgate } from "./kit/helpers.ts";

/** The cells of the table row of `point` in the last table printed: plant1, dmz, it, broker. */
function lastRow(lines: string[], point: string): string[] {
  const line = lines.findLast((l) => l.startsWith(`${point} `));
  assert(line, `no table row for ${point}`);
  const cells = [];
  for (let i = 28; i < line.length; i += 28) cells.push(line.slice(i, i + 28).trim());
  return cells;
}

Deno.test("the demo runs the chain in sandboxes, shows a cut at the it hop with its cause and the recovery, and leaves nothing behind", async () => {
  const t0 = Date.now();
  const out = await runHopgate([
    "demo",
    "--seconds",
    "25",
    "--cut-after",
    "8",
    "--restore-after",
    "14",
  ]);
  const text = out.stdout + out.stderr;
  const lines = out.stdout.split("\n");
  assertEquals(out.code, 0, text);

  // The IT hop's status page is on, and its address printed.
  assert(/status page of the IT hop: http:\/\/127\.0\.0\.1:\d+\//.test(text), text);

  // Each hop says what it may do.
  for (const hop of ["plant1", "dmz", "it"]) {
    assert(new RegExp(`sandbox of hop ${hop}: net=127\\.0\\.0\\.1:\\d+`).test(text), text);
  }
  // The plant hop has no listen address: its sandbox names only what it dials.
  assert(/sandbox of hop plant1: .*run=none ffi=none/.test(text), text);

  // PLC values reach the it hop and the broker, the Int64 counter beyond 2^53 exactly.
  const [plant, , it, broker] = lastRow(lines, "Line1/Produced");
  for (const cell of [plant, it, broker]) {
    const m = /^(\d+) Good$/.exec(cell ?? "");
    assert(m && BigInt(m[1]!) > 2n ** 53n, `${cell}\n${text}`);
  }
  assert(/^\d+(\.\d+)? Good$/.test(lastRow(lines, "Tank1/Level")[3] ?? ""), text);

  // The cut: it-hop statuses turn uncertain or bad with the cause (hop dmz, link:plant1) ...
  const cut = lines.findIndex((l) => /CUT the plant1→dmz link/.test(l));
  assert(cut > 0, text);
  const lost = lines.findIndex((l, i) =>
    i > cut &&
    /\] it +plant1\/plc\/Plant\/\S+: Good → (Uncertain|Bad)\w* \(cause: hop dmz, via link:plant1/
      .test(l)
  );
  assert(lost > 0, text);
  assert(lines.some((l, i) => i > cut && /\] link +plant1→dmz up → DOWN/.test(l)), text);
  // ... the restore brings them back to Good.
  const restored = lines.findIndex((l) => /RESTORED the plant1→dmz link/.test(l));
  assert(restored > lost, text);
  assert(
    lines.some((l, i) =>
      i > restored && /\] it +plant1\/plc\/Plant\/\S+: (Uncertain|Bad)\w* → Good/.test(l)
    ),
    text,
  );

  // Nothing is left behind: no child process, no temp dir.
  const pids = [...text.matchAll(/started \S+ \(pid (\d+)\)/g)].map((m) => m[1]!);
  assert(pids.length >= 8, text);
  for (const pid of pids) {
    let alive = true;
    try {
      alive = !/^\S+ \S+ Z/.test(Deno.readTextFileSync(`/proc/${pid}/stat`).replace(/\(.*\)/, "x"));
    } catch {
      alive = false;
    }
    assert(!alive, `process ${pid} is still running`);
  }
  const dir = /temp dir (\S+)/.exec(text)?.[1];
  assert(dir, text);
  assert(!(await Deno.stat(dir).then(() => true, () => false)), `${dir} is still there`);
  assert(Date.now() - t0 < 60_000, `the demo took ${Date.now() - t0} ms`);
});
