/**
 * The soak in short (one minute of faults, about two with set-up and the
 * final check; `deno task soak` runs the long one): the whole chain under
 * load through every fault must end equal to the source, warn of no
 * listener leak, and stay within these bounds of growth per hop process
 * between its first and last checkpoint after a 10 s warm-up (the soak
 * samples every hop whenever the chain is whole before a fault, so the
 * checkpoints compare like with like).
 */
import { ok as assert } from "node:assert";
import { formatReport, runSoak } from "./soak/soak.ts";

/** Largest growth allowed over the short run, per hop process. */
const bounds = { rssMb: 40, heapMb: 25, fds: 3, sockets: 2, timers: 5 };

Deno.test({
  name:
    "a one-minute soak through every fault ends with every view equal to the source, no leaked descriptor, listener or timer, and bounded memory",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const lines: string[] = [];
    const report = await runSoak({
      minutes: 1,
      warmupMs: 10_000,
      loadRate: 300,
      burst: 500,
      log: (l) => lines.push(l),
    });
    console.log(formatReport(report));
    const failed = report.faults.filter((f) => f.error);
    assert(failed.length === 0, failed.map((f) => `${f.name}: ${f.error}`).join("\n"));
    const names = new Set(report.faults.map((f) => f.name));
    assert(names.size === 9, `only ${[...names].join(", ")} ran:\n${lines.join("\n")}`);
    assert(report.differences.length === 0, report.differences.slice(0, 10).join("\n"));
    assert(report.leakWarnings.length === 0, report.leakWarnings.join("\n"));
    for (const h of report.hops) {
      assert(h.checkpoints >= 2, `${h.hop}: ${h.checkpoints} checkpoints`);
      assert(Number.isFinite(h.steady.heapMb!.first), `no heap figures from ${h.hop}'s /metrics`);
      for (const [m, bound] of Object.entries(bounds)) {
        const { first, last } = h.steady[m]!;
        assert(
          last - first <= bound,
          `${h.hop}: ${m} grew by ${
            (last - first).toFixed(1)
          } (${first} → ${last}), bound ${bound}`,
        );
      }
    }
  },
});
