/**
 * What `hopgate demo` shows (private to adapters/demo/): the points as each hop
 * and the broker hold them, read from the watchers' JSON lines and the broker
 * decoder's lines, the links, a line per status change, and the table.
 */

/** The points the table shows (ids at every hop). */
export const shownPoints = [
  "Plant/Tank1/Level",
  "Plant/Pump1/Running",
  "Plant/Pump1/Speed",
  "Plant/Line1/Produced",
  "Plant/Line1/HighLevelAlarm",
].map((p) => `plant1/plc/${p}`);

const views = ["plant1", "dmz", "it", "mqtt"] as const;
/** Where a point is seen: a hop's mirror, or what the broker received. */
export type View = typeof views[number];

/** A point as one view last saw it. */
interface Seen {
  value: string;
  status: string;
  cause: string | null;
}

/** `UncertainNoCommunicationLastUsableValue` → `Uncertain`: the change lines give the full name. */
function shortStatus(status: string): string {
  return /^(Good|Uncertain|Bad)/.exec(status)?.[1] ?? status;
}

/** The live state of the demo, fed line by line. */
export class DemoBoard {
  readonly #table = new Map<string, Map<View, Seen>>(shownPoints.map((id) => [id, new Map()]));
  readonly #links = new Map<string, string>();
  readonly #events: string[] = [];
  readonly #sandboxes: string[] = [];
  readonly #print: (line: string) => void;
  readonly #stamp: () => string;
  /** While true, events are kept for the redrawn screen instead of printed. */
  live = false;
  /** While true (stopping), events are dropped: links closing in turn are the demo's own doing. */
  quiet = false;

  constructor(options: { print: (line: string) => void; stamp: () => string }) {
    this.#print = options.print;
    this.#stamp = options.stamp;
  }

  /** Prints a line with its time, and keeps it for the redrawn screen. */
  event(line: string): void {
    if (this.quiet) return;
    const stamped = `[${this.#stamp()}] ${line}`;
    this.#events.push(stamped);
    if (this.#events.length > 14) this.#events.shift();
    if (!this.live) this.#print(stamped);
  }

  /** Prints a part's sandbox line and keeps it for the header of the redrawn screen. */
  sandbox(line: string): void {
    this.#sandboxes.push(line);
    this.#print(`[${this.#stamp()}] ${line}`);
  }

  /** True once every shown point is Good at the it hop: the chain is up. */
  upAtIt(): boolean {
    return [...this.#table.values()].every((r) => r.get("it")?.status === "Good");
  }

  #see(view: View, id: string, seen: Seen): void {
    const row = this.#table.get(id);
    if (!row) return;
    const before = row.get(view);
    row.set(view, seen);
    if (before && before.status !== seen.status) {
      const cause = seen.cause ? ` (cause: ${seen.cause})` : "";
      this.event(`${view.padEnd(6)} ${id}: ${before.status} → ${seen.status}${cause}`);
    }
  }

  /** A line from the `hopgate watch` of `view` (point changes on stdout as JSON). */
  watchLine(view: View, line: string): void {
    if (!line.startsWith("{")) return;
    const p = JSON.parse(line) as {
      id: string;
      value: unknown;
      status: string;
      cause: { hop: string; via: string; reason: string } | null;
    };
    // Each link's health as the hop at its receiving end reports it.
    const link = view === "dmz" && p.id === "dmz/$links/plant1/connected"
      ? "plant1→dmz"
      : view === "it" && p.id === "it/$links/dmz/connected"
      ? "dmz→it"
      : view === "it" && p.id === "it/$mqtt/connected"
      ? "it→mqtt"
      : null;
    if (link) {
      const state = p.value === true ? "up" : "DOWN";
      const before = this.#links.get(link);
      this.#links.set(link, state);
      if (before && before !== state) this.event(`link   ${link} ${before} → ${state}`);
    }
    this.#see(view, p.id, {
      value: p.value === null ? "null" : String(p.value),
      status: p.status,
      cause: p.cause ? `hop ${p.cause.hop}, via ${p.cause.via}: ${p.cause.reason}` : null,
    });
  }

  /** A line from the broker decoder (./demo_broker.ts). */
  brokerLine(line: string): void {
    if (!line.startsWith("{")) return;
    const m = JSON.parse(line) as {
      id?: string;
      value?: unknown;
      quality?: number;
      death?: string;
    };
    if (m.death) {
      for (const [id, row] of this.#table) {
        const before = row.get("mqtt");
        if (id.startsWith(`${m.death}/`) && before) {
          this.#see("mqtt", id, { ...before, status: "DEATH" });
        }
      }
      return;
    }
    if (!m.id) return;
    const q = m.quality ?? 192;
    this.#see("mqtt", m.id, {
      value: String(m.value),
      status: q === 192 ? "Good" : q === 64 ? "Uncertain" : "Bad",
      cause: null,
    });
  }

  /** The table of shown points (a column per hop and the broker) and the links. */
  tableLines(proxyCut: boolean): string[] {
    const w = 28;
    const cell = (s: Seen | undefined) =>
      (s ? `${s.value.slice(0, 17)} ${shortStatus(s.status)}` : "—").padEnd(w);
    const out = [
      `${"point".padEnd(w)}${views.map((v) => (v === "mqtt" ? "broker" : v).padEnd(w)).join("")}`,
    ];
    for (const [id, row] of this.#table) {
      const name = id.slice("plant1/plc/Plant/".length);
      out.push(`${name.padEnd(w)}${views.map((v) => cell(row.get(v))).join("")}`);
    }
    const links = ["plant1→dmz", "dmz→it", "it→mqtt"].map((k) =>
      `${k} ${this.#links.get(k) ?? "…"}`
    );
    out.push(`links: ${links.join(" · ")} · demo proxy ${proxyCut ? "CUT" : "open"}`);
    return out;
  }

  /** The whole screen of a terminal `width` wide: sandboxes, table, recent changes, keys. */
  screen(proxyCut: boolean, width: number): string {
    const fit = (l: string) => l.length > width ? `${l.slice(0, width - 1)}…` : l;
    return "\x1b[H\x1b[2J" +
      [...this.#sandboxes, "", ...this.tableLines(proxyCut)].map(fit).join("\n") +
      "\n\nRecent changes:\n" + this.#events.map(fit).join("\n") +
      "\n\nKeys: c = cut plant1→dmz, r = restore, q = quit";
  }
}
