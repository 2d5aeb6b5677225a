/**
 * A three-process chain over mutual TLS on loopback (plant1 → dmz ← it), each
 * hop under its derived permissions: end-to-end updates/s at the last hop,
 * the time a new downstream hop takes to receive the whole set, and the relay's
 * RSS. Prints numbers; run: deno run -A tests/bench/chain_bench.ts [points] [rate]
 */
import { join } from "node:path";
import { chainCerts, localHop, startHop, stopAll } from "../_chain.ts";
import { freePort, type Proc, waitFor } from "../_helpers.ts";

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** The last "updates/s" a hop's status line reported. */
function lastRate(p: Proc): number {
  const lines = p.lines.filter((l) => /Status: \d+ points, \d+ updates\/s/.test(l));
  return Number(/(\d+) updates\/s/.exec(lines.at(-1) ?? "")?.[1] ?? 0);
}

if (import.meta.main) {
  const points = Number(Deno.args[0] ?? 100_000);
  const rate = Number(Deno.args[1] ?? 1_000_000);
  const dir = await Deno.makeTempDir({ prefix: "hopgate-bench-" });
  let dmz: Proc | null = null, it: Proc | null = null, plant: Proc | null = null;
  try {
    await chainCerts(dir, ["plant1", "dmz", "it", "ops"]);
    const p1 = freePort(), p2 = freePort();
    const status = ["--status-interval", "1s"];
    dmz = await startHop(dir, "dmz", [
      "--listen",
      `127.0.0.1:${p1}`,
      "--peers",
      "plant1,it",
      ...status,
    ]);
    it = await startHop(dir, "it", [
      "--pull",
      `dmz=127.0.0.1:${p1}`,
      "--listen",
      `127.0.0.1:${p2}`,
      "--peers",
      "ops",
      ...status,
    ]);
    plant = await startHop(dir, "plant1", [
      "--sim",
      String(points),
      "--sim-rate",
      String(rate),
      "--push",
      `dmz=127.0.0.1:${p1}`,
      ...status,
    ]);
    await waitFor(
      "it to hold the whole set",
      () => it!.lines.some((l) => Number(/Status: (\d+) points/.exec(l)?.[1] ?? 0) >= points),
      60_000,
    );
    const t0 = Date.now();
    const seen = it.lines.filter((l) => /Status:/.test(l)).length;
    await waitFor(
      "five more status lines",
      () => it!.lines.filter((l) => /Status:/.test(l)).length >= seen + 5,
      20_000,
    );
    const rates = it.lines.filter((l) => /Status:/.test(l)).slice(seen, seen + 5).map((l) =>
      Number(/(\d+) updates\/s/.exec(l)?.[1])
    ).sort((a, b) => a - b);
    console.log(
      `chain plant1 → dmz → it over TLS, ${points} points, sim ${rate}/s: at it median ${
        rates[2]
      } updates/s (plant makes ${lastRate(plant)}/s; ${Date.now() - t0} ms sampled)`,
    );
    console.log(`dmz (relay) RSS with ${points} points: ${rssMiB(dmz.child.pid).toFixed(0)} MiB`);
    const s0 = performance.now();
    await using ops = await localHop(dir, "ops", ["--pull", `it=127.0.0.1:${p2}`]);
    await waitFor("the snapshot", () => ops.hop.store.size >= points, 30_000);
    console.log(
      `a new downstream hop received ${ops.hop.store.size} points in ${
        (performance.now() - s0).toFixed(0)
      } ms (connect + TLS + snapshot)`,
    );
  } finally {
    if (Deno.env.get("VERBOSE")) {
      for (const p of [plant, dmz, it]) {
        console.log(p?.lines.filter((l) => /Status|WRN|ERR/.test(l)).join("\n"));
      }
    }
    await stopAll(plant, it, dmz);
    await Deno.remove(join(dir), { recursive: true });
  }
}
