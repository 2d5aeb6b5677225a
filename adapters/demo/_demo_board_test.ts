import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { DemoBoard, shownPoints } from "./_demo_board.ts";

const level = "plant1/plc/Plant/Tank1/Level";
const line = (id: string, value: unknown, status: string, cause: unknown = null) =>
  JSON.stringify({ id, type: "Double", value, status, time: "", hops: [], cause });

Deno.test("the demo board prints a status change with its cause, and knows when the chain is up", () => {
  const printed: string[] = [];
  const board = new DemoBoard({ print: (l) => printed.push(l), stamp: () => "1.0s" });
  for (const id of shownPoints) board.watchLine("it", line(id, 1, "Good"));
  assert(board.upAtIt());
  board.watchLine(
    "it",
    line(level, 1, "UncertainNoCommunicationLastUsableValue", {
      hop: "dmz",
      via: "link:plant1",
      since: 0,
      reason: "connection closed by peer",
    }),
  );
  assert(!board.upAtIt());
  assertEquals(printed, [
    `[1.0s] it     ${level}: Good → UncertainNoCommunicationLastUsableValue (cause: hop dmz, via link:plant1: connection closed by peer)`,
  ]);
  board.watchLine("dmz", line("dmz/$links/plant1/connected", true, "Good"));
  board.watchLine("dmz", line("dmz/$links/plant1/connected", false, "Good"));
  assertEquals(printed.at(-1), "[1.0s] link   plant1→dmz up → DOWN");
  const table = board.tableLines(true);
  const row = table[1] ?? "", links = table.at(-1) ?? "";
  assert(row.startsWith("Tank1/Level"), row);
  assert(/1 Uncertain/.test(row), row);
  assert(/plant1→dmz DOWN.*demo proxy CUT/.test(links), links);
});

Deno.test("the demo board shows what the broker received, and a Sparkplug death of the device", () => {
  const printed: string[] = [];
  const board = new DemoBoard({ print: (l) => printed.push(l), stamp: () => "2.0s" });
  board.brokerLine(JSON.stringify({ id: level, value: 42.5, quality: 192 }));
  board.brokerLine(JSON.stringify({ death: "plant1/plc" }));
  const row = board.tableLines(false)[1] ?? "";
  assert(/42\.5 DEATH/.test(row), row);
  assertEquals(printed, [`[2.0s] mqtt   ${level}: Good → DEATH`]);
  board.quiet = true;
  board.brokerLine(JSON.stringify({ id: level, value: 43, quality: 192 }));
  assertEquals(printed.length, 1, "no news while stopping");
});
