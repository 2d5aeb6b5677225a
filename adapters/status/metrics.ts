/**
 * The hop's metrics in the Prometheus text exposition format 0.0.4, computed
 * when scraped (the store is iterated then), so the relay pays nothing for
 * them between scrapes: no per-update counting.
 *
 * Written here rather than with npm `prom-client`: that library keeps a
 * registry of mutable metrics updated as things happen (the per-update
 * counting this avoids), its default collectors read process and OS
 * information (`/proc`, `os`), and it brings `@opentelemetry/api` and
 * `tdigest`; a hop needs a dozen gauges and counters written once per scrape.
 */
import {
  type AdapterStatus,
  type PointStore,
  severity,
  Status,
  type StoredPoint,
} from "../../core/mod.ts";

/** The Content-Type of the text exposition format. */
export const expositionContentType = "text/plain; version=0.0.4; charset=utf-8";

/** One sample of a metric family. */
export interface Sample {
  /** Label names and values; names must match `[a-zA-Z_][a-zA-Z0-9_]*`. */
  labels?: Record<string, string>;
  /** The sample's value (NaN and infinities are written as the format spells them). */
  value: number;
}

/** A metric family: one `# HELP`, one `# TYPE` and its samples. */
export interface Family {
  /** Matches `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters end in `_total`. */
  name: string;
  /** One line saying what it measures. */
  help: string;
  /** A gauge goes up and down; a counter only up, from the hop's start. */
  type: "gauge" | "counter";
  /** Its samples, one per label set. */
  samples: Sample[];
}

/** A label value escaped per the format: backslash, double quote and line feed. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text escaped per the format: backslash and line feed. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value as the format writes it (`NaN`, `+Inf`, `-Inf` included). */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** The families as exposition text, ending in a line feed. */
export function exposition(families: readonly Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels ?? {});
      const l = labels.length === 0
        ? ""
        : `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
      out.push(`${f.name}${l} ${formatValue(s.value)}`);
    }
  }
  return out.join("\n") + "\n";
}

/** What the metrics are computed from, read at the scrape. */
export interface MetricsInput {
  /** This hop's name: its own link health points are `<hop>/$links/<peer>/…`. */
  hop: string;
  /** The hop's store, whose points are counted by status. */
  store: PointStore;
  /** Every adapter's status. */
  statuses: readonly AdapterStatus[];
  /** hopgate's version and tunnel protocol version. */
  version: string;
  /** The tunnel protocol's version. */
  protocol: number;
  /** `Deno.memoryUsage()`. */
  memory: { rss: number; heapUsed: number };
}

/** True when an adapter is running and connected. */
export function isUp(s: AdapterStatus): boolean {
  return s.run === "running" && s.connection === "connected";
}

/** The hop's metric families now: one pass over the store. */
export function hopMetrics(m: MetricsInput): Family[] {
  const classes = { good: 0, uncertain: 0, bad: 0 };
  const linksPrefix = `${m.hop}/$links/`;
  const links = new Map<string, { connected?: StoredPoint; rtt?: StoredPoint }>();
  for (const p of m.store.values()) {
    classes[severity(p.status)]++;
    if (!p.id.startsWith(linksPrefix)) continue;
    const [peer, field, ...more] = p.id.slice(linksPrefix.length).split("/");
    if (peer === undefined || more.length > 0) continue;
    const l = links.get(peer) ?? {};
    if (field === "connected") l.connected = p;
    else if (field === "rtt_ms") l.rtt = p;
    else continue;
    links.set(peer, l);
  }
  const peers = [...links.keys()].sort();
  const stats = m.store.stats();
  return [
    {
      name: "hopgate_build_info",
      help: "hopgate's version and tunnel protocol version; always 1",
      type: "gauge",
      samples: [{ labels: { version: m.version, protocol: String(m.protocol) }, value: 1 }],
    },
    {
      name: "hopgate_points",
      help: "Points this hop holds, by the class of their status",
      type: "gauge",
      samples: (["good", "uncertain", "bad"] as const).map((c) => ({
        labels: { status_class: c },
        value: classes[c],
      })),
    },
    {
      name: "hopgate_updates_applied_total",
      help: "Point updates applied to this hop's store since start",
      type: "counter",
      samples: [{ value: stats.updates }],
    },
    {
      name: "hopgate_point_removals_total",
      help: "Points removed from this hop's store since start",
      type: "counter",
      samples: [{ value: stats.removals }],
    },
    {
      name: "hopgate_updates_refused_loops_total",
      help: "Updates refused because this hop was already on their path",
      type: "counter",
      samples: [{ value: stats.refusedLoops }],
    },
    {
      name: "hopgate_adapter_up",
      help: "1 when the adapter is running and connected, else 0",
      type: "gauge",
      samples: m.statuses.map((s) => ({
        labels: { adapter: s.name, kind: s.kind },
        value: isUp(s) ? 1 : 0,
      })),
    },
    {
      name: "hopgate_link_up",
      help: "1 when this hop's link to the peer is connected, from <hop>/$links/<peer>/connected",
      type: "gauge",
      samples: peers.flatMap((peer) => {
        const p = links.get(peer)!.connected;
        return p ? [{ labels: { peer }, value: p.value === true ? 1 : 0 }] : [];
      }),
    },
    {
      name: "hopgate_link_rtt_seconds",
      help:
        "Last heartbeat round trip of this hop's link to the peer, from <hop>/$links/<peer>/rtt_ms",
      type: "gauge",
      samples: peers.flatMap((peer) => {
        const p = links.get(peer)!.rtt;
        return p && p.status === Status.Good && typeof p.value === "number"
          ? [{ labels: { peer }, value: p.value / 1000 }]
          : [];
      }),
    },
    {
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes",
      type: "gauge",
      samples: [{ value: m.memory.rss }],
    },
    {
      name: "process_heap_used_bytes",
      help: "V8 heap used in bytes",
      type: "gauge",
      samples: [{ value: m.memory.heapUsed }],
    },
  ];
}
