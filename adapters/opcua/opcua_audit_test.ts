import { deepStrictEqual as assertEquals } from "node:assert";
import { ManualClock } from "../../core/mod.ts";
import { type AuditedWrite, WriteAudit } from "./opcua_audit.ts";

Deno.test("writes are audited one line each up to a bound per interval, then summed up in one line", () => {
  const clock = new ManualClock(0);
  const lines: { level: string; message: string; properties: Record<string, unknown> }[] = [];
  const log = {
    info: (message: string, properties: Record<string, unknown>) =>
      lines.push({ level: "info", message, properties }),
    warn: (message: string, properties: Record<string, unknown>) =>
      lines.push({ level: "warn", message, properties }),
  };
  const audit = new WriteAudit({ log, clock, interval: 10_000, perInterval: 3 });
  const write = (result: string): AuditedWrite => ({
    user: 'user "op"',
    application: 'urn:scada "SCADA"',
    remote: "10.2.0.7:50123",
    point: "plant1/plc1/Line2/Setpoint",
    type: "Double",
    result,
  });
  audit.record(write("Good"));
  audit.record(write("BadNotWritable"));
  for (let i = 0; i < 50; i++) audit.record(write(i % 2 ? "Good" : "BadUserAccessDenied"));
  assertEquals(lines.map((l) => [l.level, l.properties.result]), [
    ["info", "Good"],
    ["warn", "BadNotWritable"],
    ["warn", "BadUserAccessDenied"],
  ]);
  clock.advance(10_000);
  assertEquals(lines.length, 4);
  assertEquals(lines[3]!.properties.count, 49);
  assertEquals(lines[3]!.properties.results, "25 Good, 24 BadUserAccessDenied");
  // A new interval logs again.
  audit.record(write("Good"));
  assertEquals(lines.length, 5);
  audit.flush();
  assertEquals(lines.length, 5, "nothing unlogged, no summary");
});
