/**
 * What the status page shows, computed from the hop's store and its adapters'
 * statuses in one pass over the store: the chain as this hop sees it (its own
 * links, and the links of every hop upstream whose health points reach it),
 * point counts per origin and source, the causes of failures, and the points
 * that are not Good (bounded). Read-only: it only reads the store.
 */
import {
  type AdapterStatus,
  type FailureCause,
  jsonValue,
  type PointStore,
  severity,
  Status,
  statusName,
  type StoredPoint,
  type Value,
} from "../../core/mod.ts";

/** Most not-Good points a view lists; the count of all matches is given beside them. */
export const maxProblemRows = 500;

/** One hop of the chain, placed by how many links it is from this hop. */
export interface ChainHop {
  name: string;
  /** Negative: upstream by that many links; 0: this hop; positive: downstream. */
  distance: number;
}

/** One link of the chain, as the hop nearest to this one reports it. */
export interface ChainLink {
  /** The two hops, upstream end first where known. */
  from: string;
  to: string;
  /** `unknown` when the last report of it is stale (a link nearer to this hop is down). */
  state: "up" | "down" | "unknown";
  /** Epoch ms of the last change, when known. */
  since: number | null;
  /** Last heartbeat round trip, ms. */
  rttMs: number | null;
  /** Why it is down, when known. */
  cause: string | null;
  /** The hop whose report this is. */
  seenBy: string;
}

/** Point counts of one origin hop as delivered by one source of this hop. */
export interface OriginRow {
  /** The hop where the points originate (their id's first segment). */
  origin: string;
  /** This hop's source or link that delivered them. */
  source: string;
  good: number;
  uncertain: number;
  bad: number;
}

/** A failure cause and how many points carry it. */
export interface CauseRow extends FailureCause {
  points: number;
}

/** One point that is not Good. */
export interface ProblemRow {
  id: string;
  status: string;
  code: number;
  cause: FailureCause | null;
  /** The last value as short text; `null` when there is none. */
  value: string | null;
  time: number;
}

/** The live part of the page, sent at every coalesced update. */
export interface StatusView {
  hop: string;
  now: number;
  points: number;
  adapters: AdapterStatus[];
  /** Updates per second of each adapter over the last second or so, by adapter name. */
  rates: Record<string, number>;
  chain: { hops: ChainHop[]; links: ChainLink[] };
  origins: OriginRow[];
  causes: CauseRow[];
  problems: { query: string; total: number; rows: ProblemRow[] };
}

/** A value as at most 120 characters of text. */
export function shortValue(v: Value): string | null {
  if (v === null) return null;
  const j = jsonValue(v);
  const text = typeof j === "string" ? j : JSON.stringify(j) ?? String(j);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** True when `p` matches the lower-case `query` by id, status name or cause. */
function matches(p: StoredPoint, query: string): boolean {
  if (query === "") return true;
  if (p.id.toLowerCase().includes(query)) return true;
  if (statusName(p.status).toLowerCase().includes(query)) return true;
  const c = p.cause;
  return c !== null &&
    `${c.hop} ${c.via} ${c.reason}`.toLowerCase().includes(query);
}

/** A hop's link health point, `<hop>/$links/<peer>/<field>`. */
interface HealthPoint {
  hop: string;
  peer: string;
  field: string;
  point: StoredPoint;
}

function healthPoint(p: StoredPoint): HealthPoint | null {
  const at = p.id.indexOf("/$links/");
  if (at <= 0) return null;
  const rest = p.id.slice(at + 8).split("/");
  if (rest.length !== 2) return null;
  return { hop: p.id.slice(0, at), peer: rest[0]!, field: rest[1]!, point: p };
}

/** What one hop reports of its link to a peer. */
interface LinkReport {
  connected?: StoredPoint;
  since?: StoredPoint;
  rtt?: StoredPoint;
}

/** The view now; `query` filters the not-Good points (case-insensitive substring). */
export function statusView(
  input: {
    hop: string;
    store: PointStore;
    statuses: readonly AdapterStatus[];
    rates: Record<string, number>;
    now: number;
  },
  query: string,
): StatusView {
  const { hop, store } = input;
  const q = query.trim().toLowerCase();
  // Rows by source, then by the point's path array (shared by the points that travelled the same
  // way, and its first hop is their origin): lookups by reference, no string made per point.
  const bySource = new Map<string, Map<readonly string[], OriginRow>>();
  const causes = new Map<string, CauseRow>();
  const reports = new Map<string, LinkReport>();
  const distance = new Map<string, number>([[hop, 0]]);
  const rows: ProblemRow[] = [];
  let total = 0;
  for (const p of store.values()) {
    let byPath = bySource.get(p.origin);
    if (byPath === undefined) bySource.set(p.origin, byPath = new Map());
    let row = byPath.get(p.hops);
    if (row === undefined) {
      row = { origin: p.hops[0] ?? hop, source: p.origin, good: 0, uncertain: 0, bad: 0 };
      byPath.set(p.hops, row);
    }
    const sev = severity(p.status);
    row[sev]++;
    if (p.cause !== null) {
      const c = p.cause;
      const ck = `${c.hop}\u0000${c.via}\u0000${c.reason}`;
      const cr = causes.get(ck);
      if (cr) cr.points++;
      else causes.set(ck, { ...c, points: 1 });
    }
    if (sev !== "good" && matches(p, q)) {
      total++;
      if (rows.length < maxProblemRows) {
        rows.push({
          id: p.id,
          status: statusName(p.status),
          code: p.status,
          cause: p.cause,
          value: shortValue(p.value),
          time: p.time,
        });
      }
    }
    const h = p.id.includes("/$links/") ? healthPoint(p) : null;
    if (h !== null) {
      const rk = `${h.hop}\u0000${h.peer}`;
      const r = reports.get(rk) ?? {};
      if (h.field === "connected") r.connected = p;
      else if (h.field === "since") r.since = p;
      else if (h.field === "rtt_ms") r.rtt = p;
      reports.set(rk, r);
    }
  }
  // Upstream hops by their place on the paths points travelled to this hop.
  const origins = new Map<string, OriginRow>();
  for (const byPath of bySource.values()) {
    for (const row of byPath.values()) {
      const key = `${row.origin}\u0000${row.source}`;
      const o = origins.get(key);
      if (o === undefined) origins.set(key, { ...row });
      else {
        o.good += row.good;
        o.uncertain += row.uncertain;
        o.bad += row.bad;
      }
    }
  }
  const paths = [...bySource.values()].flatMap((m) => [...m.keys()]);
  for (const path of paths) {
    const last = path.length - 1;
    for (let i = 0; i < last; i++) {
      const d = i - last;
      const known = distance.get(path[i]!);
      if (known === undefined || d > known) distance.set(path[i]!, d);
    }
  }
  const links = chainLinks(input, reports, distance, causes);
  const hops = [...distance].map(([name, d]) => ({ name, distance: d }))
    .sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name));
  return {
    hop,
    now: input.now,
    points: store.size,
    adapters: [...input.statuses],
    rates: input.rates,
    chain: { hops, links },
    origins: [...origins.values()].sort((a, b) =>
      a.origin.localeCompare(b.origin) || a.source.localeCompare(b.source)
    ),
    causes: [...causes.values()].sort((a, b) => b.points - a.points),
    problems: { query, total, rows },
  };
}

/**
 * The links of the chain: this hop's own from its link adapters (state, since
 * and last error are first-hand), the others from the health points of the
 * hop nearest to this one; hops seen only as a peer are placed one link
 * beyond the hop that names them. Fills in `distance` for them.
 */
function chainLinks(
  input: { hop: string; statuses: readonly AdapterStatus[]; store: PointStore },
  reports: Map<string, LinkReport>,
  distance: Map<string, number>,
  causes: Map<string, CauseRow>,
): ChainLink[] {
  const { hop, store } = input;
  const out = new Map<string, ChainLink>();
  const pairKey = (a: string, b: string) => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`);
  for (const s of input.statuses) {
    if (s.peer === undefined) continue;
    const peer = s.peer.name;
    const up = s.peer.side === "upstream";
    if (!distance.has(peer)) distance.set(peer, up ? -1 : 1);
    const rtt = store.get(`${hop}/$links/${peer}/rtt_ms`);
    const connected = s.connection === "connected";
    out.set(pairKey(hop, peer), {
      from: up ? peer : hop,
      to: up ? hop : peer,
      state: connected ? "up" : "down",
      since: s.since,
      rttMs: connected && rtt?.status === Status.Good && typeof rtt.value === "number"
        ? rtt.value
        : null,
      cause: connected ? null : s.lastError ??
        (s.connection === "connecting" ? "connecting" : "the peer has not connected"),
      seenBy: hop,
    });
  }
  // Reports of nearer hops first, so they win over the far end's.
  const ordered = [...reports].map(([k, r]) => {
    const [reporter, peer] = k.split("\u0000") as [string, string];
    return { reporter, peer, r };
  }).sort((a, b) =>
    Math.abs(distance.get(a.reporter) ?? 99) - Math.abs(distance.get(b.reporter) ?? 99)
  );
  for (const { reporter, peer, r } of ordered) {
    const key = pairKey(reporter, peer);
    if (out.has(key) || r.connected === undefined) continue;
    const dr = distance.get(reporter) ?? 0;
    if (!distance.has(peer)) distance.set(peer, dr + 1);
    const dp = distance.get(peer)!;
    const fresh = r.connected.status === Status.Good;
    const up = r.connected.value === true;
    const cause = up ? null : causeOf(causes, reporter, peer);
    out.set(key, {
      from: dp <= dr ? peer : reporter,
      to: dp <= dr ? reporter : peer,
      state: !fresh ? "unknown" : up ? "up" : "down",
      since: r.since?.value instanceof Date ? r.since.value.getTime() : null,
      rttMs: fresh && up && r.rtt?.status === Status.Good && typeof r.rtt.value === "number"
        ? r.rtt.value
        : null,
      cause: !fresh ? staleCause(r.connected) : cause,
      seenBy: reporter,
    });
  }
  return [...out.values()];
}

/** The reason a hop gave to the points it failed when it lost its link with `peer`. */
function causeOf(causes: Map<string, CauseRow>, hop: string, peer: string): string | null {
  for (const c of causes.values()) {
    if (c.hop === hop && c.via === `link:${peer}`) return c.reason;
  }
  return null;
}

/** Why a report is stale: the failure on the way from the reporting hop. */
function staleCause(p: StoredPoint): string {
  const c = p.cause;
  return c === null ? "no fresh report" : `no fresh report: ${c.hop} lost ${c.via} (${c.reason})`;
}
