// The status page's script: no framework and nothing from outside the hop. It listens to the
// hop's server-sent events (`info` once, `view` at most every 250 ms) and redraws the page;
// the browser's EventSource reconnects by itself when the hop comes back.
"use strict";

const svgNs = "http://www.w3.org/2000/svg";
const byId = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text, never HTML). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ""));
  return e;
}

/** An SVG element with attributes. */
function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(svgNs, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

/** Replaces a table's rows. */
function fill(tableId, rows) {
  byId(tableId).querySelector("tbody").replaceChildren(...rows);
}

/** `3 s`, `4 min`, `2 h`, `5 d`. */
function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/** A time as local clock text and how long ago it was. */
function since(ms, now) {
  if (ms === null || ms === undefined) return "";
  return `${new Date(ms).toLocaleTimeString()} (${duration(now - ms)} ago)`;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

function causeText(c) {
  return c ? `${c.hop} lost ${c.via} ${since(c.since, Date.now())}: ${c.reason}` : "";
}

function truncate(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/** The chain as a picture: hops in columns by distance, links as lines coloured by state. */
function drawChain(view) {
  const columns = [...new Set(view.chain.hops.map((h) => h.distance))].sort((a, b) => a - b);
  const place = new Map();
  const perColumn = new Map();
  for (const h of view.chain.hops) {
    const col = columns.indexOf(h.distance);
    const row = perColumn.get(col) ?? 0;
    perColumn.set(col, row + 1);
    place.set(h.name, { x: 80 + col * 400, y: 45 + row * 80 });
  }
  const rows = Math.max(1, ...perColumn.values());
  const width = 160 + Math.max(0, columns.length - 1) * 400;
  const height = 10 + rows * 80;
  const chain = byId("chain");
  chain.setAttribute("viewBox", `0 0 ${width} ${height}`);
  chain.setAttribute("width", String(width));
  chain.setAttribute("height", String(height));
  const parts = [];
  for (const l of view.chain.links) {
    const a = place.get(l.from);
    const b = place.get(l.to);
    if (!a || !b) continue;
    const label = l.state === "up"
      ? (l.rttMs === null ? "up" : `up, ${l.rttMs.toFixed(1)} ms`)
      : `${l.state}${l.cause ? `: ${l.cause}` : ""}`;
    const key = [l.from, l.to].sort().join("~");
    parts.push(svg(
      "g",
      { class: `link link-${l.state}`, "data-link": key, "data-state": l.state },
      svg("title", {}, `${l.from} → ${l.to}: ${label} (seen by ${l.seenBy})`),
      svg("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y }),
      svg("text", { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 10 }, truncate(label, 36)),
    ));
  }
  for (const h of view.chain.hops) {
    const p = place.get(h.name);
    parts.push(svg(
      "g",
      { class: h.distance === 0 ? "node self" : "node", "data-hop": h.name },
      svg("rect", { x: p.x - 60, y: p.y - 20, width: 120, height: 40, rx: 8 }),
      svg("text", { x: p.x, y: p.y }, truncate(h.name, 14)),
    ));
  }
  chain.replaceChildren(...parts);
}

function counters(a) {
  const c = a.counters ?? {};
  if (c.bytes_sent === undefined) return "";
  return `sent ${bytes(c.bytes_sent)} / ${c.points_sent} points, received ${
    bytes(c.bytes_received)
  } / ${c.points_received} points`;
}

function render(view) {
  const now = view.now;
  byId("summary").textContent = `${view.points} points, updated ${
    new Date(now).toLocaleTimeString()
  }`;
  drawChain(view);
  fill(
    "links",
    view.chain.links.map((l) =>
      el(
        "tr",
        { "data-link": [l.from, l.to].sort().join("~") },
        el("td", {}, `${l.from} → ${l.to}`),
        el("td", {}, l.seenBy),
        el("td", { class: `state-${l.state}` }, l.state),
        el("td", {}, since(l.since, now)),
        el("td", { class: "num" }, l.rttMs === null ? "" : `${l.rttMs.toFixed(1)} ms`),
        el("td", {}, l.cause ?? ""),
      )
    ),
  );
  fill(
    "adapters",
    view.adapters.map((a) =>
      el(
        "tr",
        {},
        el("td", {}, a.name),
        el("td", {}, a.kind),
        el("td", {}, a.run),
        el("td", { class: `state-${a.connection}` }, a.connection),
        el("td", {}, since(a.since, now)),
        el("td", { class: "num" }, view.rates[a.name] ?? ""),
        el("td", {}, counters(a)),
        el("td", {}, a.lastError ?? ""),
      )
    ),
  );
  fill(
    "origins",
    view.origins.map((o) =>
      el(
        "tr",
        {},
        el("td", {}, o.origin),
        el("td", {}, o.source),
        el("td", { class: "num good" }, o.good),
        el("td", { class: "num uncertain" }, o.uncertain || ""),
        el("td", { class: "num bad" }, o.bad || ""),
        el("td", { class: "num" }, view.rates[o.source] ?? ""),
      )
    ),
  );
  fill(
    "causes",
    view.causes.map((c) =>
      el(
        "tr",
        {},
        el("td", {}, c.hop),
        el("td", {}, c.via),
        el("td", {}, since(c.since, now)),
        el("td", {}, c.reason),
        el("td", { class: "num" }, c.points),
      )
    ),
  );
  const p = view.problems;
  byId("problem-count").textContent = p.total > p.rows.length
    ? `first ${p.rows.length} of ${p.total} matches`
    : `${p.total} match${p.total === 1 ? "" : "es"}`;
  fill(
    "problems",
    p.rows.map((r) =>
      el(
        "tr",
        {},
        el("td", { class: "id" }, r.id),
        el("td", { class: r.code >>> 30 === 1 ? "uncertain" : "bad" }, r.status),
        el("td", {}, causeText(r.cause)),
        el("td", { class: "id" }, r.value ?? "(none)"),
        el("td", {}, new Date(r.time).toLocaleString()),
      )
    ),
  );
}

function renderInfo(info) {
  byId("hop").textContent = info.hop;
  document.title = `hopgate ${info.hop}`;
  byId("broad").textContent = info.broad.length
    ? `Broad grants held: ${info.broad.join(", ")}`
    : "No broad grants: only the permissions below.";
  byId("broad").className = info.broad.length ? "bad" : "good";
  fill("sandbox", [
    ...Object.entries(info.sandbox).map(([k, v]) =>
      el("tr", {}, el("td", {}, k), el("td", { class: "id" }, v.length ? v.join(", ") : "none"))
    ),
    el(
      "tr",
      {},
      el("td", {}, "version"),
      el("td", {}, `${info.version}, protocol ${info.protocol}`),
    ),
    el("tr", {}, el("td", {}, "started"), el("td", {}, new Date(info.startedAt).toLocaleString())),
  ]);
  const now = Date.now();
  fill(
    "certs",
    info.certificates.map((c) => {
      const left = c.notAfter - now;
      return el(
        "tr",
        {},
        el("td", {}, `--${c.option}`),
        el("td", {}, c.subject),
        el("td", { class: "id" }, c.serial),
        el("td", {}, c.issuer),
        el(
          "td",
          { class: left < 14 * 86400000 ? "expiring" : "" },
          `${new Date(c.notAfter).toLocaleDateString()} (${
            left > 0 ? `in ${duration(left)}` : "expired"
          })`,
        ),
        el("td", { class: "id" }, c.path),
      );
    }),
  );
  byId("cert-errors").replaceChildren(...info.certificateErrors.map((e) => el("li", {}, e)));
  fill(
    "config",
    info.config.map(([k, v]) => el("tr", {}, el("td", {}, `--${k}`), el("td", { class: "id" }, v))),
  );
}

let source = null;

function setLive(on) {
  const live = byId("live");
  live.textContent = on ? "live" : "disconnected: retrying";
  live.className = on ? "live-on" : "live-off";
}

/** (Re)connects the event stream with the search as its query. */
function connect() {
  source?.close();
  const q = byId("search").value;
  source = new EventSource(`/events?q=${encodeURIComponent(q)}`);
  source.addEventListener("open", () => setLive(true));
  source.addEventListener("error", () => setLive(false));
  source.addEventListener("info", (e) => renderInfo(JSON.parse(e.data)));
  source.addEventListener("view", (e) => render(JSON.parse(e.data)));
}

let typing = 0;
byId("search").addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(connect, 300);
});
connect();
