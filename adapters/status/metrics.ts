/**
 * The hop's metrics in the Prometheus text exposition format 0.0.4, computed
 * when scraped (the store is iterated then). Between scrapes the relay pays
 * only for plain number fields incremented where the work is done (updates
 * applied per adapter, a link's bytes, frames and points): no map or label
 * lookup per update.
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
import type { CertInfo } from "./status_info.ts";

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
  memory: { rss: number; heapUsed: number; heapTotal?: number; external?: number };
  /** Write requests routed by this hop, by result name. */
  writeResults?: Record<string, number>;
  /** The certificates in use of the files the configuration names (following a renewal). */
  certificates?: readonly CertInfo[];
  /** The event loop's mean and largest delay since the previous scrape, seconds. */
  loopDelay?: { meanSeconds: number; maxSeconds: number };
  /** When the process started, epoch ms. */
  startedAt?: number;
}

/** True when an adapter is running and connected. */
export function isUp(s: AdapterStatus): boolean {
  return s.run === "running" && s.connection === "connected";
}

/** A link adapter's counters as metric families: name, help, counter key. */
const linkCounters: [string, string, string][] = [
  ["hopgate_link_sent_bytes_total", "Bytes this hop wrote to the link", "bytes_sent"],
  ["hopgate_link_received_bytes_total", "Bytes this hop read from the link", "bytes_received"],
  ["hopgate_link_sent_frames_total", "Frames this hop wrote to the link", "frames_sent"],
  [
    "hopgate_link_received_frames_total",
    "Whole frames this hop read from the link",
    "frames_received",
  ],
  ["hopgate_link_sent_points_total", "Point states this hop sent over the link", "points_sent"],
  [
    "hopgate_link_received_points_total",
    "Point states received over the link and applied",
    "points_received",
  ],
];

/** The MQTT bridge's counters and gauges as metric families: name, help, type, counter key. */
const mqttCounters: [string, string, "counter" | "gauge", string][] = [
  [
    "hopgate_mqtt_published_updates_total",
    "Updates published to the broker, live or from the disk buffer",
    "counter",
    "published_updates",
  ],
  [
    "hopgate_mqtt_spilled_updates_total",
    "Updates written to the disk buffer because no session took them",
    "counter",
    "spilled_updates",
  ],
  ["hopgate_mqtt_buffer_bytes", "Bytes of the disk buffer on disk", "gauge", "buffer_bytes"],
  [
    "hopgate_mqtt_buffer_limit_bytes",
    "The disk buffer's size limit (--mqtt-buffer-size)",
    "gauge",
    "buffer_limit_bytes",
  ],
  ["hopgate_mqtt_buffer_records", "Records waiting in the disk buffer", "gauge", "buffer_records"],
  [
    "hopgate_mqtt_buffer_oldest_age_seconds",
    "Age of the oldest record waiting in the disk buffer (0 when empty)",
    "gauge",
    "buffer_oldest_age_seconds",
  ],
  [
    "hopgate_mqtt_buffer_dropped_records_total",
    "Records the disk buffer dropped for its size or age limit",
    "counter",
    "buffer_dropped_records",
  ],
];

/** Updates an adapter applied to the store: through its context, or received over a link. */
function updatesApplied(s: AdapterStatus): number {
  return (s.counters?.updates_applied ?? 0) + (s.counters?.points_received ?? 0);
}

/** The hop's metric families now: one pass over the store. */
export function hopMetrics(m: MetricsInput): Family[] {
  type Classes = { good: number; uncertain: number; bad: number };
  // Counted by the point's path array (shared by the points that travelled the same way; its
  // first hop is their origin): a lookup by reference, no string made per point.
  const byPath = new Map<readonly string[], Classes>();
  const linksPrefix = `${m.hop}/$links/`;
  const links = new Map<string, { connected?: StoredPoint; rtt?: StoredPoint }>();
  for (const p of m.store.values()) {
    let c = byPath.get(p.hops);
    if (c === undefined) byPath.set(p.hops, c = { good: 0, uncertain: 0, bad: 0 });
    c[severity(p.status)]++;
    if (!p.id.startsWith(linksPrefix)) continue;
    const [peer, field, ...more] = p.id.slice(linksPrefix.length).split("/");
    if (peer === undefined || more.length > 0) continue;
    const l = links.get(peer) ?? {};
    if (field === "connected") l.connected = p;
    else if (field === "rtt_ms") l.rtt = p;
    else continue;
    links.set(peer, l);
  }
  const byOrigin = new Map<string, Classes>();
  for (const [path, c] of byPath) {
    const origin = path[0] ?? m.hop;
    const o = byOrigin.get(origin);
    if (o === undefined) byOrigin.set(origin, { ...c });
    else {
      o.good += c.good;
      o.uncertain += c.uncertain;
      o.bad += c.bad;
    }
  }
  const peers = [...links.keys()].sort();
  const origins = [...byOrigin.keys()].sort();
  const stats = m.store.stats();
  const linkStatuses = m.statuses.filter((s) => s.peer !== undefined);
  const mqtt = m.statuses.filter((s) => s.kind === "mqtt");
  const refusals = m.statuses.flatMap((s) =>
    Object.entries(s.refusals ?? {}).map(([reason, n]) => ({ adapter: s.name, reason, n }))
  );
  const families: Family[] = [
    {
      name: "hopgate_build_info",
      help: "hopgate's version and tunnel protocol version; always 1",
      type: "gauge",
      samples: [{ labels: { version: m.version, protocol: String(m.protocol) }, value: 1 }],
    },
    {
      name: "hopgate_points",
      help: "Points this hop holds, by origin hop and the class of their status",
      type: "gauge",
      samples: origins.flatMap((origin) =>
        (["good", "uncertain", "bad"] as const).map((c) => ({
          labels: { origin, status_class: c },
          value: byOrigin.get(origin)![c],
        }))
      ),
    },
    {
      name: "hopgate_updates_applied_total",
      help: "Point updates applied to this hop's store since start",
      type: "counter",
      samples: [{ value: stats.updates }],
    },
    {
      name: "hopgate_adapter_updates_applied_total",
      help: "Point updates each source or link applied to this hop's store since start",
      type: "counter",
      samples: m.statuses.map((s) => ({
        labels: { adapter: s.name, kind: s.kind },
        value: updatesApplied(s),
      })),
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
      help:
        "1 when the adapter (source, link, MQTT session, server) is running and connected, else 0",
      type: "gauge",
      samples: m.statuses.map((s) => ({
        labels: { adapter: s.name, kind: s.kind },
        value: isUp(s) ? 1 : 0,
      })),
    },
    {
      name: "hopgate_adapter_state_since_timestamp_seconds",
      help: "When the adapter's connection last changed, Unix time",
      type: "gauge",
      samples: m.statuses.map((s) => ({
        labels: { adapter: s.name, kind: s.kind },
        value: s.since / 1000,
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
    ...linkCounters.map(([name, help, key]): Family => ({
      name,
      help,
      type: "counter",
      samples: linkStatuses.map((s) => ({
        labels: { peer: s.peer!.name, side: s.peer!.side },
        value: s.counters?.[key] ?? 0,
      })),
    })),
    ...mqttCounters.map(([name, help, type, key]): Family => ({
      name,
      help,
      type,
      samples: mqtt.map((s) => ({ labels: { adapter: s.name }, value: s.counters?.[key] ?? 0 })),
    })),
    {
      name: "hopgate_certificate_expiry_timestamp_seconds",
      help:
        "When each certificate in use of the files the configuration names expires, Unix time; name is its $certs/<name>/expires point",
      type: "gauge",
      samples: (m.certificates ?? []).map((c) => ({
        labels: {
          ...(c.name ? { name: c.name } : {}),
          option: c.option,
          subject: c.subject,
          serial: c.serial,
        },
        value: c.notAfter / 1000,
      })),
    },
    {
      name: "hopgate_write_requests_total",
      help: "Write requests this hop routed, by the status name of their result",
      type: "counter",
      samples: Object.entries(m.writeResults ?? {}).sort().map(([result, n]) => ({
        labels: { result },
        value: n,
      })),
    },
    {
      name: "hopgate_refused_connections_total",
      help: "Connections the tunnel listener refused, by reason",
      type: "counter",
      samples: refusals.map((r) => ({
        labels: { adapter: r.adapter, reason: r.reason },
        value: r.n,
      })),
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
  if (m.memory.heapTotal !== undefined) {
    families.push({
      name: "process_heap_total_bytes",
      help: "V8 heap size in bytes",
      type: "gauge",
      samples: [{ value: m.memory.heapTotal }],
    });
  }
  if (m.memory.external !== undefined) {
    families.push({
      name: "process_external_memory_bytes",
      help: "Memory of objects outside the V8 heap (buffers) in bytes",
      type: "gauge",
      samples: [{ value: m.memory.external }],
    });
  }
  if (m.loopDelay !== undefined) {
    families.push({
      name: "hopgate_event_loop_delay_max_seconds",
      help: "The largest lateness of a 100 ms timer since the previous scrape",
      type: "gauge",
      samples: [{ value: m.loopDelay.maxSeconds }],
    }, {
      name: "hopgate_event_loop_delay_mean_seconds",
      help: "The mean lateness of a 100 ms timer since the previous scrape",
      type: "gauge",
      samples: [{ value: m.loopDelay.meanSeconds }],
    });
  }
  if (m.startedAt !== undefined) {
    families.push({
      name: "process_start_time_seconds",
      help: "When the hop started, Unix time",
      type: "gauge",
      samples: [{ value: m.startedAt / 1000 }],
    });
  }
  // Families without samples say nothing; leaving them out keeps the exposition short.
  return families.filter((f) => f.samples.length > 0);
}
