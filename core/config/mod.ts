/**
 * A hop's configuration: declared options, YAML loading, flags-over-file
 * merging, defaults that depend on other settings, and checks of everything
 * (including that files can be read) before anything starts.
 */
import { isAbsolute, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { camel, kebab, type OptionMeta, optionRegistry } from "./_option.ts";
import { generalOptions } from "./general.ts";
import { mqttChecks, mqttOptions, mqttPresetDefaults } from "./mqtt.ts";
import { opcuaOptions } from "./opcua.ts";
import { tunnelOptions } from "./tunnel.ts";

export { formatHostPort, type HostPort, kebab, parseHostPort } from "./_option.ts";
export { hopNamePattern } from "./general.ts";
export { type MqttEffective, mqttEffective, mqttPresets } from "./mqtt.ts";
export type { LinkTarget, PeerRole, PeerSpec } from "./tunnel.ts";
export type { OpcuaEndpoint } from "./opcua.ts";
export { opcuaSecurityChoices } from "./opcua.ts";

const shape = { ...generalOptions, ...tunnelOptions, ...opcuaOptions, ...mqttOptions };

/** The schema of a hop's settings, keyed in camelCase. */
export const hopSchema = z.strictObject(shape);

type Parsed = z.output<typeof hopSchema>;

/** Settings whose defaults depend on others are filled in. */
type Resolved =
  | "dataDir"
  | "tlsCert"
  | "tlsKey"
  | "tlsCa"
  | "opcuaUsers"
  | "mqttEdgeNode"
  | "mqttClientId";

/** A validated hop configuration with every default resolved and every path absolute. */
export type HopConfig = Omit<Parsed, Resolved> & { [K in Resolved]: string };

/** One declared option, for flag parsing, help and documentation. */
export interface OptionInfo extends OptionMeta {
  key: keyof Parsed;
  flag: string;
  defaultValue: unknown;
}

/** Every declared option, in declaration order. */
export function optionInfos(): OptionInfo[] {
  return (Object.keys(shape) as (keyof Parsed)[]).map((key) => {
    const meta = optionRegistry.get(shape[key]);
    if (!meta) throw new Error(`Option ${key} has no help`);
    const parsed = z.object({ v: shape[key] }).safeParse({ v: undefined });
    return {
      ...meta,
      key,
      flag: `--${kebab(key)}`,
      defaultValue: parsed.success ? parsed.data.v : undefined,
    };
  });
}

/** Invalid configuration: each message names the flag or key and what to do. Exit code 2. */
export class ConfigError extends Error {
  readonly problems: string[];
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
      if (!(key in shape)) {
        problems.push(
          `Unknown key "${rawKey}" in ${layer.label}; use the flag names without "--" (see hopgate run --help)`,
        );
        continue;
      }
      const meta = optionRegistry.get(shape[key as keyof Parsed]);
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
  const result = hopSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = String(issue.path[0] ?? "");
      if (issue.code === "invalid_type" && merged[key] === undefined) {
        problems.push(`${where(key, null)} is required; pass ${where(key, null)} <value>`);
      } else {
        problems.push(`Invalid ${where(key, source[key] ?? null)}: ${issue.message}`);
      }
    }
    throw new ConfigError(problems);
  }
  const c = result.data;
  const dataDir = c.dataDir ?? resolve(cwd, "hopgate-data", c.name);
  const given = new Set(Object.keys(source));
  const config: HopConfig = mqttPresetDefaults({
    ...c,
    dataDir,
    tlsCert: c.tlsCert ?? join(dataDir, "certs", `${c.name}.crt`),
    tlsKey: c.tlsKey ?? join(dataDir, "certs", `${c.name}.key`),
    tlsCa: c.tlsCa ?? join(dataDir, "certs", "ca.crt"),
    opcuaUsers: c.opcuaUsers ?? join(dataDir, "users.json"),
    mqttEdgeNode: c.mqttEdgeNode ?? c.name,
    mqttClientId: c.mqttClientId ?? `hopgate-${c.name}`,
  }, given);
  problems.push(...crossChecks(config), ...mqttChecks(config, given));
  const files = fileChecks(config, source);
  if (options.onUnreadableFiles) {
    if (files.length) options.onUnreadableFiles(files);
  } else problems.push(...files);
  if (problems.length) throw new ConfigError(problems);
  return config;
}

/** True when the hop takes part in the tunnel. */
export function usesTunnel(c: HopConfig): boolean {
  return c.listen !== undefined || c.push.length > 0 || c.pull.length > 0;
}

/** Rules between options. */
function crossChecks(c: HopConfig): string[] {
  const out: string[] = [];
  if (!isAbsolute(c.dataDir)) {
    out.push(`--data-dir "${c.dataDir}" must resolve to an absolute path`);
  }
  if (c.listen && c.peers.length === 0) {
    out.push(
      "--listen is set but --peers is empty: name the hops allowed to connect with their roles, for example --peers plant1:push,it:pull",
    );
  }
  const peerNames = c.peers.map((p) => p.name);
  for (const [i, p] of c.peers.entries()) {
    if (p.name === c.name) out.push(`--peers lists this hop's own name "${p.name}"; remove it`);
    if (peerNames.indexOf(p.name) !== i) {
      out.push(`--peers lists "${p.name}" twice; give each peer once, with one role`);
    }
    for (const r of p.relays) {
      if (r === c.name || r === p.name) {
        out.push(
          `--peers "${p.name}" relays "${r}", which is ${
            r === c.name ? "this hop" : "the peer itself"
          }; remove it`,
        );
      }
    }
  }
  const reserve = c.maxId + c.maxHops * 64 + 4096;
  if (c.maxValue + reserve > c.maxFrame) {
    out.push(
      `--max-value (${c.maxValue} bytes) leaves no room in --max-frame (${c.maxFrame} bytes) for a point's id, path and cause: lower --max-value to at most ${
        Math.max(0, c.maxFrame - reserve)
      } or raise --max-frame`,
    );
  }
  for (const [flag, links] of [["--push", c.push], ["--pull", c.pull]] as const) {
    for (const l of links) {
      if (l.peer === c.name) out.push(`${flag} "${l.peer}" names this hop itself; name the peer`);
    }
  }
  const dialled = [...c.push, ...c.pull].map((l) => l.peer);
  for (const [i, peer] of dialled.entries()) {
    if (dialled.indexOf(peer) !== i) {
      out.push(
        `Hop "${peer}" is dialled twice (--push/--pull); two hops share one link: give one --push or --pull with all its addresses`,
      );
    }
    if (peerNames.includes(peer)) {
      out.push(
        `Hop "${peer}" is both dialled and accepted (--peers); two hops share one link: remove it from one side`,
      );
    }
  }
  if (c.linkTimeout <= c.heartbeat) {
    out.push(
      `--link-timeout (${c.linkTimeout} ms) must be longer than --heartbeat (${c.heartbeat} ms)`,
    );
  }
  if (c.opcuaUser && !c.opcuaPasswordFile && !c.opcuaPasswordEnv) {
    out.push("--opcua-user needs a password: pass --opcua-password-file or --opcua-password-env");
  }
  if (!!c.opcuaUserCert !== !!c.opcuaUserKey) {
    out.push("--opcua-user-cert and --opcua-user-key go together; pass both or neither");
  }
  if (c.mqtt?.protocol === "mqtt:" && !c.mqttAllowPlaintext) {
    out.push(
      `--mqtt "${c.mqtt.href}" is unencrypted; use mqtts:// or pass --mqtt-allow-plaintext`,
    );
  }
  if (!!c.mqttCert !== !!c.mqttKey) {
    out.push("--mqtt-cert and --mqtt-key go together; pass both or neither");
  }
  const names = new Set<string>();
  for (const e of c.opcua) {
    if (names.has(e.name)) out.push(`--opcua: two servers are named "${e.name}"; name them apart`);
    names.add(e.name);
  }
  const hasWork = c.sim > 0 || c.opcua.length > 0 || usesTunnel(c);
  if (!hasWork) {
    out.push(
      "Nothing to do: give a source or a link (--sim, --opcua, --push, --pull or --listen)",
    );
  }
  return out;
}

/** Files the configuration needs must be readable now, not at the first reconnect. */
function fileChecks(c: HopConfig, source: Record<string, string | null>): string[] {
  const need: [keyof HopConfig, string][] = [];
  if (usesTunnel(c)) {
    const hint = `or create it with: hopgate certs issue ${c.name}`;
    need.push(["tlsCert", hint], ["tlsKey", hint], ["tlsCa", "or copy the chain's CA there"]);
  }
  if (c.opcuaServer && !c.opcuaServerAnonymous) {
    need.push([
      "opcuaUsers",
      `or add a user with: hopgate users add <user> --data-dir ${c.dataDir}`,
    ]);
  }
  for (
    const key of [
      "opcuaPasswordFile",
      "opcuaUserCert",
      "opcuaUserKey",
      "mqttPasswordFile",
      "mqttCa",
      "mqttCert",
      "mqttKey",
    ] as const
  ) {
    if (c[key] !== undefined) need.push([key, "or fix the path"]);
  }
  const out: string[] = [];
  for (const [key, hint] of need) {
    const path = c[key] as string;
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
