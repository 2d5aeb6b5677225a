/**
 * The whole chain end to end under faults, every part its own process:
 * PLC (node-opcua) → plant1 → dmz ← it → mosquitto (TLS, client certificate,
 * Sparkplug B), with an independent Sparkplug subscriber, an OPC UA client of
 * the it hop, and an in-process hop pulling it's mirror as the cloud side.
 * One chain serves every case; each case restores it fully and asserts so.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { encodePayload } from "../adapters/mqtt/sparkplug_codec.ts";
import { isGood, sameValue, sleep, Status, statusName } from "../core/mod.ts";
import { E2eChain, linkTimeoutMs, plcDevice } from "./kit/e2e_chain.ts";
import { tempDir, waitFor } from "./kit/helpers.ts";
import { Observer } from "./kit/observer.ts";
import { counterPath, plcVariable, setpointPath } from "./fixtures/plc_values.ts";

const count = 36; // three of each of the PLC simulator's 12 types, plus counter and setpoint
const node = "spBv1.0/hopgate";
const unsanitized = { sanitizeOps: false, sanitizeResources: false, sanitizeExit: false };
/** What each fault's detection took, printed at the end. */
const detected: string[] = [];

/**
 * Everything that differs between the cloud's three views and the PLC: the
 * fixed variables' values, the setpoint read from the PLC, and a counter at
 * least as far as the PLC's was when read.
 */
async function differences(
  c: E2eChain,
  plc: Awaited<ReturnType<E2eChain["readPlc"]>>,
): Promise<string[]> {
  const [counter, setpoint] = plc;
  const want = (i: number) =>
    i < c.count
      ? plcVariable(i)
      : i === c.count
      ? { path: counterPath, ...counter!.typed! }
      : { path: setpointPath, ...setpoint!.typed! };
  const ids = c.plcIds();
  const problems: string[] = [];
  const cloud = c.cloud();
  if (!cloud.alive) problems.push(`Sparkplug device ${plcDevice} is not alive`);
  const opcua = await c.itClient.read(ids);
  for (let i = 0; i < ids.length && problems.length < 5; i++) {
    const w = want(i);
    const counterOk = (v: unknown) => typeof v === "number" && v >= (w.value as number);
    const same = (v: unknown) =>
      w.path === counterPath ? counterOk(v) : sameValue(w.value, v as never);
    const m = cloud.metrics.get(w.path);
    if (!m || m.type !== w.type || !same(m.value) || m.quality !== 192) {
      problems.push(`MQTT ${w.path} = ${String(m?.value)} (${m?.type}, q ${m?.quality})`);
    }
    const p = c.opsHop.store.get(ids[i]!);
    if (!p || p.type !== w.type || !same(p.value) || p.status !== Status.Good || p.cause) {
      problems.push(`mirror ${ids[i]} = ${String(p?.value)} ${p && statusName(p.status)}`);
    }
    const r = opcua[i]!;
    if (r.status !== Status.Good || r.typed?.type !== w.type || !same(r.typed.value)) {
      problems.push(`OPC UA ${ids[i]} = ${String(r.typed?.value)} ${statusName(r.status)}`);
    }
  }
  return problems;
}

/** Waits until every view equals the PLC again. */
async function assertConverged(c: E2eChain, after: string, ms = 45_000): Promise<number> {
  const t0 = performance.now();
  let last: string[] = [];
  // The PLC's counter moves on: read it once, and wait for the cloud to reach that value.
  const plc = await waitFor(
    "a read of the PLC",
    () => c.readPlc([counterPath, setpointPath]).catch(() => undefined),
    ms,
  );
  try {
    await waitFor(`every point to equal the PLC ${after}`, async () => {
      last = await differences(c, plc);
      return last.length === 0;
    }, ms);
  } catch (e) {
    throw new Error(`${(e as Error).message}: ${last.join("; ")}`);
  }
  assertEquals(c.cloud().dataWhileDead, 0, "no DDATA for a dead device");
  return performance.now() - t0;
}

/**
 * Injects a fault under the PLC's steady counter updates; checks that the
 * cloud learns it within `withinMs` (Sparkplug DDEATH, and every point at the
 * mirror uncertain with the cause), that nothing reads Good during it, and
 * that after `restore` every point equals the PLC again.
 */
async function fault(c: E2eChain, o: {
  name: string;
  inject: () => Promise<unknown>;
  restore: () => Promise<unknown>;
  cause: { hop: string; via: string; reason?: RegExp };
  withinMs: number;
}): Promise<void> {
  await assertConverged(c, `before: ${o.name}`);
  const ids = c.plcIds();
  const deaths = c.cloud().deaths;
  const t0 = performance.now();
  await o.inject();
  const deathMs = await E2eChain.since(
    t0,
    "Sparkplug DDEATH",
    () => c.cloud().deaths > deaths,
    15_000,
  );
  const mirrorMs = await E2eChain.since(
    t0,
    "every point uncertain with its cause",
    () =>
      ids.every((id) => {
        const p = c.opsHop.store.get(id);
        return p?.status === Status.UncertainNoCommunicationLastUsableValue &&
          p.cause?.hop === o.cause.hop && p.cause.via === o.cause.via;
      }),
    15_000,
  );
  detected.push(
    `${o.name}: DDEATH after ${deathMs.toFixed(0)} ms, mirror after ${mirrorMs.toFixed(0)} ms`,
  );
  console.log(detected.at(-1));
  assert(deathMs < o.withinMs, `DDEATH after ${deathMs} ms, not within ${o.withinMs} ms`);
  assert(mirrorMs < o.withinMs, `mirror failed after ${mirrorMs} ms, not within ${o.withinMs}`);
  const p = c.opsHop.store.get(ids[0]!)!;
  if (o.cause.reason) assert(o.cause.reason.test(p.cause!.reason), p.cause!.reason);
  assert(p.cause!.since <= Date.now() && p.cause!.since > Date.now() - 30_000);

  // Nothing reads Good while the source is unreachable: OPC UA at it, the mirror, Sparkplug.
  // The fault is held a while, so that updates the plant still gets would have come through.
  let goodDuring = 0;
  const plcIds = new Set(ids);
  const off = c.opsHop.store.subscribe({
    onUpdate: (p) => void (plcIds.has(p.id) && isGood(p.status) && goodDuring++),
    onRemove: () => {},
  });
  await sleep(600);
  off();
  assertEquals(goodDuring, 0, "Good updates at the mirror during the fault");
  const during = await c.itClient.read(ids);
  assertEquals(
    during.filter((r) => r.status !== Status.UncertainNoCommunicationLastUsableValue).length,
    0,
    during.map((r) => statusName(r.status)).join(),
  );
  assert(ids.every((id) => !isGood(c.opsHop.store.get(id)!.status)));
  assert(!c.cloud().alive);

  await o.restore();
  const recovered = await assertConverged(c, `after: ${o.name}`);
  console.log(`${o.name}: every point equal to the PLC ${recovered.toFixed(0)} ms after restore`);
}

Deno.test({
  name:
    "the chain PLC → plant1 → dmz ← it → mosquitto mirrors the PLC, survives each fault, and passes writes only where every hop allows",
  ...unsanitized,
  fn: async (t) => {
    await using dir = await tempDir();
    const c = await E2eChain.start(dir.path, {
      count,
      writable: {
        it: "plant1/plc/Plant/Setpoint,plant1/plc/Plant/Line0/*",
        dmz: "plant1/plc/Plant/Setpoint,plant1/plc/Plant/Line0/V0_*",
        plant1: "plant1/plc/Plant/Setpoint",
      },
    });
    const step = (name: string, fn: () => Promise<void>) => t.step({ name, fn, ...unsanitized });
    try {
      await step(
        "an MQTT subscriber and an OPC UA client of it see every PLC variable with its value and type",
        async () => {
          await assertConverged(c, "at start");
          const birth = c.cloud();
          assertEquals([...birth.metrics.keys()].sort(), c.plcPaths().sort());
          const big = birth.metrics.get(plcVariable(2).path)!;
          assert(typeof big.value === "bigint" && big.value < -(2n ** 53n), String(big.value));
          const p = c.opsHop.store.get(c.plcIds()[0]!)!;
          assertEquals(p.hops, ["plant1", "dmz", "it", "ops"]);
          // Steady updates: the counter keeps changing at the cloud.
          const first = birth.metrics.get(counterPath)!.value as number;
          await waitFor(
            "the counter to change at the cloud",
            () => (c.cloud().metrics.get(counterPath)!.value as number) > first + 3,
          );
        },
      );

      await step(
        "PLC killed and restarted: the cloud learns it at once, then equals the PLC",
        () =>
          fault(c, {
            name: "PLC killed",
            inject: () => c.plc.proc.stop("SIGKILL"),
            restore: () => c.restartPlc(),
            cause: { hop: "plant1", via: "opcua:plc" },
            withinMs: linkTimeoutMs,
          }),
      );

      await step("plant hop killed and restarted", () =>
        fault(c, {
          name: "plant1 killed",
          inject: () => c.plant!.stop("SIGKILL"),
          restore: async () => c.plant = await c.startPlant(),
          cause: { hop: "dmz", via: "link:plant1", reason: /closed/ },
          withinMs: linkTimeoutMs,
        }));

      await step("dmz hop killed and restarted", () =>
        fault(c, {
          name: "dmz killed",
          inject: () => c.dmz!.stop("SIGKILL"),
          restore: async () => c.dmz = await c.startDmz(),
          cause: { hop: "it", via: "link:dmz" },
          withinMs: linkTimeoutMs,
        }));

      await step("plant→dmz link black-holed and restored", () =>
        fault(c, {
          name: "plant→dmz black-holed",
          inject: () => Promise.resolve(c.proxy.blackHole()),
          restore: () => Promise.resolve(c.proxy.restore()),
          cause: { hop: "dmz", via: "link:plant1", reason: /heartbeat timeout/ },
          // Silence is only noticed when the timeout runs out: allow the heartbeat check's tick.
          withinMs: linkTimeoutMs + 600,
        }));

      await step(
        "broker restarted: in-house views stay Good, the cloud gets new births equal to the PLC",
        async () => {
          await assertConverged(c, "before the broker restart");
          const ids = c.plcIds();
          await c.observer!.close();
          await c.broker.stop();
          await c.it!.waitForLine(/connection to .* lost/);
          await waitFor(
            "it's broker connection to read false at the mirror",
            () => c.opsHop.store.get("it/$mqtt/connected")?.value === false,
          );
          // The source is reachable: OPC UA clients of it and the mirror still read Good.
          const during = await c.itClient.read(ids);
          assert(during.every((r) => r.status === Status.Good));
          assert(ids.every((id) => c.opsHop.store.get(id)!.status === Status.Good));
          await c.broker.start();
          const o = await Observer.connect(c.broker.setup.plainPort, [`${node}/#`]);
          c.observer = o;
          let asked = 0;
          await waitFor("a DBIRTH after the broker restart", async () => {
            if (c.cloud().alive) return true;
            // The hop may have been reborn before this subscriber came: ask again.
            if (Date.now() - asked > 2000) {
              asked = Date.now();
              await o.publish(
                `${node}/NCMD/it`,
                encodePayload({
                  timestamp: Date.now(),
                  metrics: [{ name: "Node Control/Rebirth", type: "Boolean", value: true }],
                }),
              );
            }
            return false;
          }, 20_000);
          await assertConverged(c, "after the broker restart");
        },
      );

      await step(
        "a Sparkplug DCMD reaches the PLC when every hop allows it, and is refused at the first hop that does not",
        async () => {
          await assertConverged(c, "before the writes");
          const o = c.observer!;
          const mark = o.seen.length;
          const cmd = {
            [setpointPath]: { type: "Double", value: 42.5 }, // allowed everywhere
            "Plant/Line0/V0_Double": { type: "Double", value: 1.5 }, // refused by plant1
            "Plant/Line0/V1_Int32": { type: "Int32", value: 5 }, // refused by dmz
            [counterPath]: { type: "Int32", value: 3 }, // refused by it
          } as const;
          await o.publish(
            `${node}/DCMD/it/${plcDevice}`,
            encodePayload({
              timestamp: Date.now(),
              metrics: Object.entries(cmd).map(([name, v]) => ({ name, ...v })),
            }),
          );
          const results = new Map<string, unknown>();
          await waitFor("a write result for every metric", () => {
            const byAlias = c.cloud().byAlias;
            for (const s of o.seen.slice(mark)) {
              for (const m of s.sp?.metrics ?? []) {
                if (m.properties.WriteStatus !== undefined) {
                  results.set(byAlias.get(m.alias!)!, m.properties.WriteStatus);
                }
              }
            }
            return results.size === 4;
          }, 20_000);
          assertEquals(Object.fromEntries(results), {
            [setpointPath]: "Good",
            "Plant/Line0/V0_Double": "BadNotWritable",
            "Plant/Line0/V1_Int32": "BadNotWritable",
            [counterPath]: "BadNotWritable",
          });
          await c.plc.proc.waitForLine(/PLC setpoint written 42.5/, 10_000);
          const [sp] = await c.readPlc([setpointPath]);
          assertEquals(sp!.typed!.value, 42.5);
          // Each refusal happened at the first hop whose policy does not allow it, and went no further.
          const refused = (hop: "it" | "dmz" | "plant1", path: string) =>
            c[hop === "plant1" ? "plant" : hop]!.lines.some((l) =>
              l.includes(`plant1/plc/${path}`) && l.includes(`not allowed by --writable on ${hop}`)
            );
          await waitFor(
            "the refusals in the hops' logs",
            () =>
              refused("it", counterPath) && refused("dmz", "Plant/Line0/V1_Int32") &&
              refused("plant1", "Plant/Line0/V0_Double"),
          );
          const reached = (p: string, path: string) => p.includes(`plant1/plc/${path}`);
          assert(!c.dmz!.lines.some((l) => reached(l, counterPath)), "Counter stopped at it");
          assert(
            !c.plant!.lines.some((l) => reached(l, "Plant/Line0/V1_Int32")),
            "V1 stopped at dmz",
          );
          await assertConverged(c, "after the writes");
          assertEquals(c.cloud().metrics.get(setpointPath)!.value, 42.5);
        },
      );
    } finally {
      await c.close();
      if (detected.length) console.log(`fault detection at the cloud:\n  ${detected.join("\n  ")}`);
    }
  },
});

// When the dmz restarts and the it hop reconnects before the plant does, the dmz's snapshot
// lacks plant1's points. The it hop must not take that as their removal: they read as failed
// with a cause until the plant is back (tunnel/link.ts, snapshot end).
Deno.test({
  name:
    "a restarted dmz that has not heard from the plant yet does not make the plant's points vanish downstream",
  ...unsanitized,
  fn: async () => {
    await using dir = await tempDir();
    const c = await E2eChain.start(dir.path, { count: 12 });
    try {
      await assertConverged(c, "at start");
      c.proxy.blackHole(); // the plant cannot reach the new dmz yet
      await c.dmz!.stop("SIGKILL");
      c.dmz = await c.startDmz();
      await c.it!.waitForLine(/Snapshot from dmz/, 15_000);
      const ids = c.plcIds();
      await waitFor(
        "it to have resynchronised with the new dmz",
        () => c.it!.lines.filter((l) => /Snapshot from dmz/.test(l)).length >= 2,
      );
      const missing = ids.filter((id) => !c.opsHop.store.get(id));
      assertEquals(missing, [], "the plant's points are still known downstream");
      for (const id of ids) {
        const p = c.opsHop.store.get(id)!;
        assert(!isGood(p.status) && p.cause !== null, `${id}: ${statusName(p.status)}`);
      }
      const read = await c.itClient.read(ids);
      assertEquals(read.filter((r) => r.status === Status.BadNodeIdUnknown).length, 0);
      c.proxy.restore();
      await assertConverged(c, "after the plant reconnects");
    } finally {
      await c.close();
    }
  },
});
