/**
 * Options are declared once, each as a schema with help text; flags, YAML
 * keys, validation and the README's flag table all come from these
 * declarations. Core reads a schema only through the Standard Schema
 * interface (https://standardschema.dev), which zod schemas have, so the
 * public types here name no schema library: core's own builders (`int()`,
 * `duration()`, `hostPort()`...) are zod schemas behind {@link SchemaBuilder}.
 */
import { z } from "zod";

/** One problem a schema found in a value: its message, and where in the value when nested. */
export interface SchemaIssue {
  /** What is wrong, in words for the operator. */
  readonly message: string;
  /** Where in a nested value (list index, key); absent for the value itself. */
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/** The outcome of a schema's validation: the parsed value, or the problems found. */
export type SchemaResult<Out> =
  | { readonly value: Out; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<SchemaIssue> };

/** The Standard Schema properties core uses: validation, and the output type for inference. */
export interface SchemaProps<Out> {
  /** The Standard Schema version. */
  readonly version: 1;
  /** The library that made the schema. */
  readonly vendor: string;
  /** Parses a flag's text or a YAML value; a missing value (`undefined`) gives the default. */
  readonly validate: (value: unknown) => SchemaResult<Out> | Promise<SchemaResult<Out>>;
  /** Carries the output type for inference only; absent at run time. */
  readonly types?: { readonly input: unknown; readonly output: Out } | undefined;
}

/**
 * What core needs of an option's schema: a Standard Schema that parses flag
 * text and YAML values alike into `Out`. zod schemas are ones, so an options
 * file may pass `z.enum([...])` or `z.string().min(1).optional()` directly;
 * validation must be synchronous.
 */
export interface Schema<Out = unknown> {
  /** The Standard Schema interface. */
  readonly "~standard": SchemaProps<Out>;
}

/** The type a schema parses to. */
export type SchemaOutput<S> = S extends Schema<infer Out> ? Out : never;

/** A problem a check or a transform reports: what is wrong, and the offending value. */
export interface CustomIssue {
  /** Always `custom`. */
  code: "custom";
  /** What is wrong and what to write instead, with the value. */
  message: string;
  /** The offending value, when it is not the whole option's value. */
  input?: unknown;
}

/**
 * How a failed {@link SchemaBuilder.refine} words its problem: the message,
 * or `{ error }` with the message or a function of the offending input.
 */
export type CheckMessage =
  | string
  | { error: string | ((issue: { input: unknown }) => string | undefined) }
  | { message: string };

/** What {@link SchemaBuilder.transform} and {@link SchemaBuilder.superRefine} get besides the value. */
export interface CheckContext {
  /** The problems found so far: push one (and return anything) to fail the option. */
  readonly issues: CustomIssue[];
  /** Reports a problem; the option fails with its message. */
  addIssue(issue: CustomIssue): void;
}

/**
 * A schema made by core's builders (`int()`, `duration()`, `stringList()`...):
 * it can be given a default, made optional, checked further or turned into
 * another value. Each method returns a new schema.
 */
export interface SchemaBuilder<Out> extends Schema<Out> {
  /** The same schema, giving `value` when the option is not set. */
  default(value: Exclude<Out, undefined>): SchemaBuilder<Exclude<Out, undefined>>;
  /** The same schema, accepting an option that is not set (its value is then `undefined`). */
  optional(): SchemaBuilder<Out | undefined>;
  /** The same schema, refusing a value for which `check` is false, with `message`. */
  refine(check: (value: Out) => boolean, message?: CheckMessage): SchemaBuilder<Out>;
  /** The same schema, with problems of the parsed value reported by `check` in `ctx`. */
  superRefine(check: (value: Out, ctx: CheckContext) => void): SchemaBuilder<Out>;
  /** The parsed value turned into another by `fn`, which may report problems in `ctx`. */
  transform<U>(fn: (value: Out, ctx: CheckContext) => U): SchemaBuilder<U>;
  /** Parses a value, throwing on a problem: for schemas composed of others. */
  parse(value: unknown): Out;
}

/**
 * A zod schema seen as a {@link SchemaBuilder}. The cast holds because zod's
 * own `default`, `optional`, `refine`, `superRefine`, `transform` and `parse`
 * take what that interface declares and return zod schemas again (and zod
 * schemas carry `~standard`); option_test.ts exercises each.
 */
export function fromZod<T extends z.ZodType>(schema: T): SchemaBuilder<z.output<T>> {
  return schema as unknown as SchemaBuilder<z.output<T>>;
}

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

const metas = new WeakMap<Schema, OptionMeta>();

/** The help of a schema declared with {@link option}, or `undefined` for any other schema. */
export function optionMeta(schema: Schema): OptionMeta | undefined {
  return metas.get(schema);
}

/**
 * Declares an option: its schema (which parses flag strings and YAML values
 * alike) and its help. Returns the schema, now known to core as an option.
 */
export function option<Out>(schema: Schema<Out>, meta: OptionMeta): Schema<Out> {
  metas.set(schema, meta);
  return schema;
}

/**
 * Validates `value` with `schema` (synchronously; an asynchronous schema is a
 * programming error and throws).
 */
export function validate<Out>(schema: Schema<Out>, value: unknown): SchemaResult<Out> {
  const result = schema["~standard"].validate(value);
  if (result instanceof Promise) {
    throw new Error("Option schemas must validate synchronously; this one returned a promise");
  }
  return result;
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
  /** A host name, an IPv4 address or an IPv6 address (without brackets). */
  host: string;
  /** 1 to 65535. */
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
export function hostPort(): SchemaBuilder<HostPort> {
  return fromZod(
    z.string().transform((text, ctx) => {
      const hp = parseHostPort(text);
      if (hp) return hp;
      ctx.issues.push({
        code: "custom",
        input: text,
        message: `"${text}" is not host:port (for example 127.0.0.1:7000 or dmz.example:7000)`,
      });
      return z.NEVER;
    }),
  );
}

/** One value, or a comma-separated string, or a YAML list: always a list of strings. */
export function stringList(): SchemaBuilder<string[]> {
  return fromZod(z.preprocess(
    (v) => {
      const items = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
      return items.flatMap((s) =>
        typeof s === "string" ? s.split(",").map((x) => x.trim()).filter(Boolean) : [s]
      );
    },
    z.array(z.string({ error: "expected text" })),
  ));
}

/**
 * A list whose items are whole values (the flag is repeated, not comma-split);
 * each item is parsed by `item`, and a problem names the item's message.
 */
export function repeated<T>(item: Schema<T>): SchemaBuilder<T[]> {
  return fromZod(z.preprocess(
    (v) => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]),
    z.array(
      z.unknown().transform((v, ctx): T => {
        const result = validate(item, v);
        if (result.issues === undefined) return result.value;
        for (const issue of result.issues) {
          ctx.issues.push({ code: "custom", input: v, message: issue.message });
        }
        return z.NEVER;
      }),
    ),
  ));
}

/** A duration: `500ms`, `1s`, `2m`, `1h`, or a number of milliseconds. */
export function duration(): SchemaBuilder<number> {
  return fromZod(
    z.union([z.number(), z.string()]).transform((v, ctx) => {
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
    }),
  );
}

/** A size in bytes: `64MB`, `128KB`, `1GB`, or a plain number of bytes. */
export function byteSize(): SchemaBuilder<number> {
  return fromZod(
    z.union([z.number(), z.string()]).transform((v, ctx) => {
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
    }),
  );
}

/** A whole number within bounds, from a flag string or a YAML number. */
export function int(min: number, max: number = Number.MAX_SAFE_INTEGER): SchemaBuilder<number> {
  return fromZod(
    z.coerce.number({ error: "expected a whole number" })
      .int({ error: "expected a whole number" })
      .min(min, { error: `must be at least ${min}` })
      .max(max, { error: `must be at most ${max}` }),
  );
}

/** A switch: present on the command line, or true/false in YAML. */
export function flag(): SchemaBuilder<boolean> {
  return fromZod(z.boolean({ error: "expected true or false" }).default(false));
}

/** A path to a file the hop reads; existence is checked once defaults are resolved. */
export function filePath(): SchemaBuilder<string> {
  return fromZod(
    z.string({ error: "expected a file path" }).min(1, { error: "expected a file path" }),
  );
}

/** A URL with one of the given schemes. */
export function url(schemes: readonly string[], example: string): SchemaBuilder<URL> {
  return fromZod(
    z.string().transform((text, ctx) => {
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
    }),
  );
}
