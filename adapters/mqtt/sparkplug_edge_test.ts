import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import {
  adapterContext,
  type HopConfig,
  logger,
  ManualClock,
  type Point,
  PointStore,
  Status,
  type StatusCode,
  type WriteRequest,
} from "../../core/mod.ts";
import { type MqttSession, type OutMessage, type OutPoint, outPoint } from "./mqtt_format.ts";
import { decodePayload, encodePayload } from "./sparkplug_codec.ts";
import { SparkplugEdge } from "./sparkplug_edge.ts";

/** A session that hands every message to `seen` at once, as a broker would to a host. */
class Session implements MqttSession {
  ready = false;
  #seen: (m: OutMessage) => void;
  constructor(seen: (m: OutMessage) => void) {
    this.#seen = seen;
  }
  publish(m: OutMessage): Promise<void> {
    this.#seen(m);
    return Promise.resolve();
  }
  subscribe(): Promise<void> {
    return Promise.resolve();
  }
  restart(): void {}
}

/**
 * A Sparkplug host application's view of node `it`: each device's metrics by
 * alias from its last DBIRTH. It fails on the spot when one alias stands for
 * two metrics within the session, or DDATA names an alias the device's last
 * DBIRTH did not declare.
 */
class Host {
  devices = new Map<string, { alive: boolean; byAlias: Map<bigint, string> }>();
  /** Every alias the session declared, with its device and metric. */
  everAlias = new Map<bigint, string>();
  births = 0;
  deaths = 0;
  lastData: { device: string; aliases: bigint[] } | null = null;

  fold(m: OutMessage): void {
    const [, , kind, , device] = m.topic.split("/");
    const p = decodePayload(m.payload as Uint8Array);
    if (kind === "NBIRTH") {
      this.devices.clear();
      this.everAlias.clear();
      return;
    }
    if (device === undefined) return;
    if (kind === "DBIRTH") {
      this.births++;
      const byAlias = new Map<bigint, string>();
      for (const x of p.metrics) {
        const name: string = `${device}/${x.name}`;
        assert(
          x.alias !== undefined && !byAlias.has(x.alias),
          `alias ${x.alias} twice in a DBIRTH`,
        );
        const before = this.everAlias.get(x.alias);
        assert(before === undefined || before === name, `alias ${x.alias}: ${before}, now ${name}`);
        this.everAlias.set(x.alias, name);
        byAlias.set(x.alias, x.name!);
      }
      this.devices.set(device, { alive: true, byAlias });
    } else if (kind === "DDEATH") {
      this.deaths++;
      this.devices.get(device)!.alive = false;
    } else if (kind === "DDATA") {
      const d = this.devices.get(device);
      assert(d?.alive, `DDATA of ${device}, which is not born`);
      const aliases = p.metrics.map((x) => x.alias!);
      for (const a of aliases) {
        assert(d.byAlias.has(a), `DDATA of ${device}: undeclared alias ${a}`);
      }
      this.lastData = { device, aliases };
    }
  }

  /** The alias of `metric` in `device`'s last DBIRTH. */
  alias(device: string, metric: string): bigint {
    const found = [...this.devices.get(device)!.byAlias].find(([, n]) => n === metric);
    assert(found, `${device}/${metric} is not declared`);
    return found[0];
  }
}

function point(id: string, value: number, status: StatusCode = Status.Good): Point {
  return { id, value, type: "Double", status, time: 1000, hops: [], cause: null };
}

Deno.test("a Sparkplug edge node under point churn keeps tables only for the points that exist, and never reuses an alias", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const clock = new ManualClock();
    const store = new PointStore("it");
    const writes: WriteRequest[] = [];
    const config = {
      mqttGroup: "hopgate",
      mqttEdgeNode: "it",
      mqttPrimaryHost: undefined,
      dataDir: dir,
    } as unknown as HopConfig;
    const ctx = adapterContext({ name: "mqtt", kind: "mqtt" }, {
      hop: "it",
      config,
      store,
      clock,
      signal: new AbortController().signal,
      log: logger("test"),
      write: (r) => {
        writes.push(r);
        return Promise.resolve(Status.Good);
      },
    });
    const edge = new SparkplugEdge({
      ctx,
      effective: {
        maxPayload: 0,
        retain: false,
        batch: false,
        batchTopic: "",
        username: undefined,
      },
      qos: 0,
    });
    // Wired as the bridge wires it: changes are copied and published later, removals told at once.
    let pending: OutPoint[] = [];
    store.subscribe({
      onUpdate: (p) => pending.push(outPoint(p)),
      onRemove: (p) => edge.removed(p.id),
    });
    const host = new Host();
    const session = new Session((m) => host.fold(m));
    const publish = () => {
      const batch = pending;
      pending = [];
      return edge.publish(session, batch, false);
    };
    const settle = async () => {
      clock.advance(300);
      await edge.tick(session);
    };

    const stable = Array.from({ length: 10 }, (_, i) => `line2/gen/load/${i}`);
    for (const id of stable) ctx.apply(point(id, 0));
    pending = [];
    edge.will(); // as the bridge does before it connects
    await edge.online(session);
    assert(session.ready);
    const base = edge.sizes;
    assertEquals(base, {
      known: 10,
      aliases: 10,
      devices: 1,
      metrics: 10,
      names: 10,
      lost: 0,
      notGood: 0,
      slots: 0,
    });

    const rounds = 50;
    for (let r = 0; r < rounds; r++) {
      // 1,000 new ids: 900 beside the stable points, 100 in a device of their own.
      const ids = [
        ...Array.from({ length: 900 }, (_, i) => `line2/gen/burst/${r}/${i}`),
        ...Array.from({ length: 100 }, (_, i) => `churn${r}/dev/${i}`),
      ];
      for (const id of ids) ctx.apply(point(id, r));
      await publish();
      await settle();
      assertEquals(host.devices.get(`churn${r}:dev`)?.byAlias.size, 100);
      // Data of every new point, some of them bad (which the edge node remembers per point).
      for (const [i, id] of ids.entries()) {
        ctx.apply(point(id, r + 1, i % 100 === 0 ? Status.BadOutOfService : Status.Good));
      }
      await publish();
      assertEquals(host.lastData?.aliases.length, 100);
      assertEquals(edge.sizes.known, 1010);
      assertEquals(edge.sizes.notGood, 10);
      // One more change is queued, then every new point goes before it is published.
      ctx.apply(point(ids[0]!, r + 2));
      for (const id of ids) store.remove(id);
      await publish();
      await settle();
      assertEquals(edge.sizes, base, `round ${r}`);
    }
    // Per round: both devices born with the new points, line2:gen again without them, and
    // the emptied device dead.
    assertEquals(host.births, 1 + 3 * rounds);
    assertEquals(host.deaths, rounds);
    // The host was told of every removal: the last births declare just the stable points.
    const names = stable.map((id) => id.slice("line2/gen/".length));
    assertEquals([...host.devices.get("line2:gen")!.byAlias.values()].sort(), [...names].sort());
    assert([...host.devices.values()].filter((d) => d.alive).length === 1);

    // After the churn, DDATA carries the aliases of the last DBIRTH, each once.
    for (const id of stable) ctx.apply(point(id, 99));
    await publish();
    const data = host.lastData!;
    assertEquals(data.device, "line2:gen");
    assertEquals(new Set(data.aliases).size, stable.length);
    assertEquals(data.aliases, names.map((n) => host.alias("line2:gen", n)));

    // Commands: an alias of the last DBIRTH reaches its point; one of a removed point reaches none.
    const removedAlias = [...host.everAlias].find(([, n]) => n.includes("burst/49/"))![0];
    const loadAlias = host.alias("line2:gen", "load/3");
    await edge.message(
      session,
      "spBv1.0/hopgate/DCMD/it/line2:gen",
      encodePayload({
        timestamp: clock.now(),
        metrics: [
          { alias: loadAlias, type: "Double", value: 5 },
          { alias: removedAlias, type: "Double", value: 6 },
        ],
      }),
    );
    assertEquals(writes.map((w) => [w.id, w.value]), [["line2/gen/load/3", 5]]);
    assertEquals(host.lastData?.aliases, [loadAlias]);
    // The stable points' changes were published since: the edge node holds their slots.
    assertEquals(edge.sizes, { ...base, slots: stable.length });

    // A change queued before its point was removed, published after a new point took the
    // point's slot and was published under it: the slot is the new point's now, and the
    // stale change goes to no one, not under the new point's alias.
    ctx.apply(point("line2/gen/gone", 1));
    await publish();
    await settle();
    ctx.apply(point("line2/gen/gone", 2));
    const stale = pending;
    pending = [];
    store.remove("line2/gen/gone");
    ctx.apply(point("line2/gen/new", 3));
    assertEquals(stale[0]?.slot, pending[0]?.slot);
    await publish();
    await settle();
    ctx.apply(point("line2/gen/new", 4));
    await publish();
    assertEquals(host.lastData?.aliases, [host.alias("line2:gen", "new")]);
    host.lastData = null;
    await edge.publish(session, stale, false);
    assertEquals(host.lastData, null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
