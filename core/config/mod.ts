/**
 * A hop's configuration: declared options, YAML loading, flags-over-file
 * merging, defaults that depend on other settings, and checks of everything
 * (including that files can be read) before anything starts.
 */
import { isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { type OptionShape, type OptionValues, plugins, pluginsVersion } from "../plugin.ts";
import { camel, kebab, type OptionMeta, optionMeta, validate } from "./option.ts";
import { generalOptions } from "./general.ts";

export {
  byteSize,
  camel,
  type CheckContext,
  type CheckMessage,
  type CustomIssue,
  duration,
  filePath,
  flag,
  formatHostPort,
  type HostPort,
  hostPort,
  int,
  kebab,
  option,
  type OptionMeta,
  optionMeta,
  parseHostPort,
  repeated,
  type Schema,
  type SchemaBuilder,
  type SchemaIssue,
  type SchemaOutput,
  type SchemaProps,
  type SchemaResult,
  stringList,
  url,
  validate,
} from "./option.ts";
export { generalOptions, hopName, hopNamePattern } from "./general.ts";

/**
 * A validated hop configuration with every default resolved and every path
 * absolute: the hop's own settings here, and each plugin's, which it adds to
 * this interface where it declares its options (declaration merging), so
 * core names none of them.
 */
export interface HopConfig extends Omit<OptionValues<typeof generalOptions>, "dataDir"> {
  /** Where the hop keeps certificates, buffers and state: absolute, defaulted from the name. */
  dataDir: string;
}

let cached: { version: number; shape: OptionShape } | null = null;

/** The hop's options and those of every registered plugin, in that order. */
function shape(): OptionShape {
  if (cached?.version === pluginsVersion()) return cached.shape;
  if (plugins().length === 0) {
    throw new Error("No plugins are registered: import adapters/all.ts first (main.ts does)");
  }
  const all: OptionShape = { ...generalOptions };
  for (const p of plugins()) {
    for (const [key, schema] of Object.entries(p.options)) {
      if (key in all) throw new Error(`Option ${key} of plugin ${p.name} is declared twice`);
      all[key] = schema;
    }
  }
  cached = { version: pluginsVersion(), shape: all };
  return all;
}

/** One problem of a hop's settings: the option's key and the schema's message. */
interface SettingIssue {
  key: string;
  message: string;
}

/**
 * Parses raw settings keyed in camelCase, each by its option's schema, in
 * declaration order. A key that is absent and has no default stays absent.
 */
function parseSettings(
  values: Record<string, unknown>,
): { data: Record<string, unknown>; issues: SettingIssue[] } {
  const data: Record<string, unknown> = {};
  const issues: SettingIssue[] = [];
  for (const [key, schema] of Object.entries(shape())) {
    const result = validate(schema, values[key]);
    if (result.issues === undefined) {
      if (result.value !== undefined) data[key] = result.value;
    } else {
      for (const issue of result.issues) issues.push({ key, message: issue.message });
    }
  }
  return { data, issues };
}

/** One declared option, for flag parsing, help and documentation. */
export interface OptionInfo extends OptionMeta {
  /** Its key in code (camelCase), as in {@link HopConfig}. */
  key: string;
  /** Its flag (`--tls-cert`); the YAML key is the same without the dashes. */
  flag: string;
  /** Its value when not set, as parsed (`undefined` when it has none). */
  defaultValue: unknown;
}

/** Every declared option, in declaration order. */
export function optionInfos(): OptionInfo[] {
  const all = shape();
  return Object.keys(all).map((key) => {
    const schema = all[key]!;
    const meta = optionMeta(schema);
    if (!meta) throw new Error(`Option ${key} has no help: declare it with option()`);
    const parsed = validate(schema, undefined);
    return {
      ...meta,
      key,
      flag: `--${kebab(key)}`,
      defaultValue: parsed.issues === undefined ? parsed.value : undefined,
    };
  });
}

/** Invalid configuration: each message names the flag or key and what to do. Exit code 2. */
export class ConfigError extends Error {
  /** Each problem found, one line each. */
  readonly problems: string[];
  /** An error listing `problems`, one per line. */
  constructor(problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * One source of settings. Later layers override earlier ones: the
 * configuration baked into a built hop, then `--config`, then flags.
 */
export interface ConfigLayer {
  /** `null` for flags; a file path or a description (`built-in configuration`) otherwise. */
  label: string | null;
  /** Relative paths in this layer resolve against this directory. */
  baseDir: string;
  /** Raw values keyed like the flags (kebab-case or camelCase). */
  values: Record<string, unknown>;
}

/** Reads a YAML configuration file into raw values keyed like the flags. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new ConfigError([`Cannot read --config "${path}": ${fileProblem(e)}; check the path`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError([
      `Cannot parse --config "${path}": ${(e as Error).message.split("\n")[0]}; fix the YAML`,
    ]);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError([`--config "${path}" must be a YAML mapping of option names to values`]);
  }
  return doc as Record<string, unknown>;
}

/** Describes why a file could not be opened. */
function fileProblem(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "file not found";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.NotCapable) return "not allowed by this hop's permissions";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  return (e as Error).message;
}

/** Names an option for messages: `--tls-cert` or `tls-cert in hop.yaml`. */
function where(key: string, file: string | null): string {
  return file === null ? `--${kebab(key)}` : `"${kebab(key)}" in ${file}`;
}

/** The merged raw values of several layers, with absolute paths, and which layer set each. */
export interface MergedInput {
  values: Record<string, unknown>;
  source: Record<string, string | null>;
}

/** Merges layers without validating them, except for unknown keys. */
export function mergeLayers(layers: ConfigLayer[]): MergedInput {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  const source: Record<string, string | null> = {};
  for (const layer of layers) {
    for (const [rawKey, value] of Object.entries(layer.values)) {
      if (value === undefined) continue;
      const key = camel(rawKey);
      const all = shape();
      if (!(key in all)) {
        problems.push(
          `Unknown key "${rawKey}" in ${layer.label}; use the flag names without "--" (see hopgate run --help)`,
        );
        continue;
      }
      const meta = optionMeta(all[key]!);
      values[key] = meta?.path && typeof value === "string" ? resolve(layer.baseDir, value) : value;
      source[key] = layer.label;
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return { values, source };
}

/**
 * Validates merged layers and resolves defaults. Throws a {@link ConfigError}
 * listing every problem found, each naming its flag or key. `onUnreadableFiles`
 * turns unreadable files into notes instead: `hopgate build` runs where the
 * hop's certificates need not exist yet.
 */
export function resolveConfig(
  layers: ConfigLayer[],
  options: { cwd?: string; onUnreadableFiles?: (problems: string[]) => void } = {},
): HopConfig {
  const cwd = options.cwd ?? Deno.cwd();
  const { values: merged, source } = mergeLayers(layers);
  const problems: string[] = [];
  const result = parseSettings(merged);
  if (result.issues.length) {
    const missing = new Set<string>();
    for (const { key, message } of result.issues) {
      if (merged[key] === undefined) {
        if (missing.has(key)) continue;
        missing.add(key);
        problems.push(`${where(key, null)} is required; pass ${where(key, null)} <value>`);
      } else {
        problems.push(`Invalid ${where(key, source[key] ?? null)}: ${message}`);
      }
    }
    throw new ConfigError(problems);
  }
  const c = result.data as unknown as HopConfig & { dataDir?: string };
  const config: HopConfig = { ...c, dataDir: c.dataDir ?? resolve(cwd, "hopgate-data", c.name) };
  const given = new Set(Object.keys(source));
  for (const p of plugins()) p.defaults?.(config, given);
  problems.push(...crossChecks(config));
  for (const p of plugins()) problems.push(...(p.checks?.(config, given) ?? []));
  const files = fileChecks(config, source);
  if (options.onUnreadableFiles) {
    if (files.length) options.onUnreadableFiles(files);
  } else problems.push(...files);
  if (problems.length) throw new ConfigError(problems);
  return config;
}

/** Rules of the hop's own options. */
function crossChecks(c: HopConfig): string[] {
  const out: string[] = [];
  if (!isAbsolute(c.dataDir)) {
    out.push(`--data-dir "${c.dataDir}" must resolve to an absolute path`);
  }
  if (plugins().length > 0 && !plugins().some((p) => p.active(c))) {
    const ways = plugins().map((p) => p.activatedBy).filter((w) => w !== "");
    out.push(`Nothing to do: give a source or a link (${ways.join(", ")})`);
  }
  return out;
}

/** Files the configuration needs must be readable now, not at the first reconnect. */
function fileChecks(c: HopConfig, source: Record<string, string | null>): string[] {
  const need = plugins().flatMap((p) => p.files?.(c) ?? []);
  const out: string[] = [];
  const values = c as unknown as Record<string, unknown>;
  for (const [key, hint] of need) {
    const path = values[key] as string;
    try {
      const f = Deno.openSync(path, { read: true });
      const info = f.statSync();
      f.close();
      if (!info.isFile) throw new Deno.errors.IsADirectory(path);
    } catch (e) {
      const w = where(key, source[key] ?? null);
      out.push(`Cannot read ${w} "${path}": ${fileProblem(e)}; pass ${`--${kebab(key)}`} ${hint}`);
    }
  }
  return out;
}
