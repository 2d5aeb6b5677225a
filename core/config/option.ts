/**
 * Options are declared once, as zod schemas with help text; flags, YAML keys,
 * validation and the README's flag table all come from these declarations.
 */
import { z } from "zod";

/** How an option appears on the command line and in help. */
export interface OptionMeta {
  /** One line of help; the default is appended automatically. */
  help: string;
  /** Placeholder for the flag's value (`<host:port>`); absent for boolean switches. */
  arg?: string;
  /** The flag may be given several times; values accumulate. */
  repeatable?: boolean;
  /** Group heading in help and the README. */
  group: string;
  /** Shown in help as the default when the schema's default is computed elsewhere. */
  defaultText?: string;
  /** The value is a file or directory path: made absolute, relative to the file that set it. */
  path?: boolean;
}

/** The registry every option is declared in. */
export const optionRegistry = z.registry<OptionMeta>();

/** Declares an option: its schema (which parses flag strings and YAML values alike) and its help. */
export function option<T extends z.ZodType>(schema: T, meta: OptionMeta): T {
  optionRegistry.add(schema, meta);
  return schema;
}

/** `tlsCert` → `tls-cert`: option keys are camelCase in code, kebab-case as flags and YAML keys. */
export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `tls-cert` → `tlsCert`. */
export function camel(key: string): string {
  return key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The host and port of an address a hop dials or listens on. */
export interface HostPort {
  host: string;
  port: number;
}

/** Renders a host:port back to text (IPv6 hosts in brackets). */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** Parses `host:port` or `[v6]:port`; returns `null` when it is not one. */
export function parseHostPort(text: string): HostPort | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port };
}

/** A `host:port` value. */
export function hostPort() {
  return z.string().transform((text, ctx) => {
    const hp = parseHostPort(text);
    if (hp) return hp;
    ctx.issues.push({
      code: "custom",
      input: text,
      message: `"${text}" is not host:port (for example 127.0.0.1:7000 or dmz.example:7000)`,
    });
    return z.NEVER;
  });
}

/** One value, or a comma-separated string, or a YAML list: always a list of strings. */
export function stringList() {
  return z.preprocess(
    (v) => {
      const items = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
      return items.flatMap((s) =>
        typeof s === "string" ? s.split(",").map((x) => x.trim()).filter(Boolean) : [s]
      );
    },
    z.array(z.string({ error: "expected text" })),
  );
}

/** A list whose items are whole values (the flag is repeated, not comma-split). */
export function repeated<T extends z.ZodType>(item: T) {
  return z.preprocess(
    (v) => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]),
    z.array(item),
  );
}

/** A duration: `500ms`, `1s`, `2m`, `1h`, or a number of milliseconds. */
export function duration() {
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    if (typeof v === "number" && v >= 0) return v;
    const m = typeof v === "string" ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(v.trim()) : null;
    if (m) {
      const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "ms"]!;
      return Math.round(Number(m[1]) * scale);
    }
    ctx.issues.push({
      code: "custom",
      input: v,
      message: `"${v}" is not a duration (for example 500ms, 5s, 2m, 24h)`,
    });
    return z.NEVER;
  });
}

/** A size in bytes: `64MB`, `128KB`, `1GB`, or a plain number of bytes. */
export function byteSize() {
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
    const m = typeof v === "string" ? /^(\d+)\s*(B|KB|MB|GB)?$/i.exec(v.trim()) : null;
    if (m) {
      const unit = (m[2] ?? "B").toUpperCase() as "B" | "KB" | "MB" | "GB";
      return Number(m[1]) * { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[unit];
    }
    ctx.issues.push({
      code: "custom",
      input: v,
      message: `"${v}" is not a size (for example 128KB, 64MB, 1GB)`,
    });
    return z.NEVER;
  });
}

/** A whole number within bounds, from a flag string or a YAML number. */
export function int(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.coerce.number({ error: "expected a whole number" })
    .int({ error: "expected a whole number" })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });
}

/** A switch: present on the command line, or true/false in YAML. */
export function flag() {
  return z.boolean({ error: "expected true or false" }).default(false);
}

/** A path to a file the hop reads; existence is checked once defaults are resolved. */
export function filePath() {
  return z.string({ error: "expected a file path" }).min(1, { error: "expected a file path" });
}

/** A URL with one of the given schemes. */
export function url(schemes: readonly string[], example: string) {
  return z.string().transform((text, ctx) => {
    let u: URL | null = null;
    try {
      u = new URL(text);
    } catch {
      u = null;
    }
    const scheme = u?.protocol.slice(0, -1);
    if (u && scheme && schemes.includes(scheme) && u.hostname !== "") return u;
    ctx.issues.push({
      code: "custom",
      input: text,
      message: `"${text}" is not a ${
        schemes.map((s) => `${s}://`).join(" or ")
      } URL with a host (for example ${example})`,
    });
    return z.NEVER;
  });
}
