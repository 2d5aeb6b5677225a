import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { type AdapterStatus, type Point, PointStore, Status } from "../../core/mod.ts";
import { maxProblemRows, statusView } from "./status_view.ts";

const t = 1_700_000_000_000;

function point(id: string, value: Point["value"], extra: Partial<Point> = {}): Point {
  return {
    id,
    value,
    type: typeof value === "boolean" ? "Boolean" : "Double",
    status: Status.Good,
    time: t,
    hops: [],
    cause: null,
    ...extra,
  };
}

/** Hop `it` pulling from dmz, which lost its link with plant1 a second ago. */
function itStore(plantPoints: number): PointStore {
  const store = new PointStore("it");
  const cause = { hop: "dmz", via: "link:plant1", since: t - 1000, reason: "heartbeat timeout" };
  for (let i = 0; i < plantPoints; i++) {
    store.apply(
      point(`plant1/sim/${i}`, i, {
        hops: ["plant1", "dmz"],
        status: Status.UncertainNoCommunicationLastUsableValue,
        cause,
      }),
      "link:dmz",
    );
  }
  // dmz's own report of its link with plant1: fresh, down.
  store.apply(point("dmz/$links/plant1/connected", false, { hops: ["dmz"] }), "link:dmz");
  // plant1's report of the same link: stale, it cannot reach here.
  store.apply(
    point("plant1/$links/dmz/connected", true, {
      hops: ["plant1", "dmz"],
      status: Status.UncertainNoCommunicationLastUsableValue,
      cause,
    }),
    "link:dmz",
  );
  store.apply(point("it/$links/dmz/rtt_ms", 1.5), "links");
  return store;
}

const dmzLink: AdapterStatus = {
  name: "link:dmz",
  kind: "link",
  run: "running",
  connection: "connected",
  since: t - 60_000,
  lastError: null,
  peer: { name: "dmz", side: "upstream" },
};

Deno.test("the view draws the chain from the hop's own links and the nearest hop's reports, with causes", () => {
  const v = statusView(
    { hop: "it", store: itStore(3), statuses: [dmzLink], rates: {}, now: t },
    "",
  );
  assertEquals(v.chain.hops, [
    { name: "plant1", distance: -2 },
    { name: "dmz", distance: -1 },
    { name: "it", distance: 0 },
  ]);
  const byPair = new Map(v.chain.links.map((l) => [`${l.from}>${l.to}`, l]));
  assertEquals(byPair.get("dmz>it"), {
    from: "dmz",
    to: "it",
    state: "up",
    since: t - 60_000,
    rttMs: 1.5,
    cause: null,
    seenBy: "it",
  });
  // dmz is nearer than plant1: its fresh report wins, with the cause it gave its points.
  const far = byPair.get("plant1>dmz")!;
  assertEquals([far.state, far.seenBy, far.cause], ["down", "dmz", "heartbeat timeout"]);
  assertEquals(v.chain.links.length, 2);
  assertEquals(
    v.origins.find((o) => o.origin === "plant1"),
    { origin: "plant1", source: "link:dmz", good: 0, uncertain: 4, bad: 0 },
  );
  assertEquals(v.causes[0]?.points, 4);
  assertEquals(v.causes[0]?.via, "link:plant1");
});

Deno.test("the not-Good points are searched by id, status or cause, and bounded", () => {
  const store = itStore(maxProblemRows + 100);
  const input = { hop: "it", store, statuses: [dmzLink], rates: {}, now: t };
  const all = statusView(input, "");
  assertEquals(all.problems.total, maxProblemRows + 101);
  assertEquals(all.problems.rows.length, maxProblemRows);
  assertEquals(all.problems.rows[0]?.status, "UncertainNoCommunicationLastUsableValue");
  assertEquals(statusView(input, "plant1/sim/42").problems.total, 11); // 42 and 420-429
  assertEquals(statusView(input, "plant1/sim/599").problems.total, 1);
  assertEquals(statusView(input, "HEARTBEAT").problems.total, maxProblemRows + 101);
  assertEquals(statusView(input, "nothing like it").problems.rows, []);
  assert(statusView(input, "sim/7").problems.rows.every((r) => r.id.includes("sim/7")));
});
