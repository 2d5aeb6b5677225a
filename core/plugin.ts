/**
 * The adapter contract: a plugin (an adapter folder, or the tunnel) brings
 * its own options, the checks between them, the files and permissions its
 * configuration needs, and the adapters it makes. Core assembles the command
 * line, the YAML schema, the README's flag tables and the hop's permission
 * set from the registered list and names no plugin itself, so a new source
 * is one folder and one line in adapters/all.ts (Telegraf registers its
 * plugins the same way, from one `all` package imported for its effect).
 */
import type { Adapter } from "./adapter.ts";
import type { HopConfig } from "./config/mod.ts";
import type { Schema, SchemaOutput } from "./config/option.ts";

/** Options declared with `option()`, keyed in camelCase (flags and YAML keys are kebab-case). */
export type OptionShape = Record<string, Schema>;

/** The parsed values of an option shape: a plugin's own slice of the configuration. */
export type OptionValues<S extends OptionShape> = { -readonly [K in keyof S]: SchemaOutput<S[K]> };

/** What a plugin's configuration needs of the sandbox, beyond the hop's data directory. */
export interface PermissionNeeds {
  /** `host:port` pairs dialled or listened on. */
  net?: string[];
  /** Files or folders read (absolute). */
  read?: string[];
  /** Environment variables read. */
  env?: string[];
  /** System information kinds (`hostname`, `networkInterfaces`). */
  sys?: string[];
  /** Variables a library probes that read as unset instead of being granted. */
  ignoreEnv?: string[];
}

/** One plugin: an adapter folder or the tunnel. Methods take the whole configuration, typed. */
export interface Plugin {
  /** Names it in messages (`opcua`, `mqtt`, `tunnel`). */
  readonly name: string;
  /** Its options: flags, YAML keys, help text and README rows come from them. */
  readonly options: OptionShape;
  /** The flags that give it something to do, for the message of a hop with nothing to do. */
  readonly activatedBy: string;
  /** True when the configuration gives it something to do. */
  active(config: HopConfig): boolean;
  /**
   * Fills in settings whose defaults depend on others (`<data-dir>/certs/<name>.crt`);
   * `given` holds the keys set by a flag, a file or the built-in configuration.
   */
  defaults?(config: HopConfig, given: ReadonlySet<string>): void;
  /** Problems between its options, each naming the flag and what to do. */
  checks?(config: HopConfig, given: ReadonlySet<string>): string[];
  /** Files the configuration names that must be readable before the hop starts: [option key, hint]. */
  files?(config: HopConfig): [string, string][];
  /**
   * What the configuration needs of the sandbox. `embedded`: the hop runs (or
   * will run) from a `deno compile` binary, whose npm packages need no reads.
   */
  permissions(config: HopConfig, options: { embedded: boolean }): PermissionNeeds;
  /** The adapters the configuration asks for, in start order (sources before sinks). */
  adapters(config: HopConfig): Adapter[];
  /**
   * V8 settings the configuration's adapters run better with, each
   * `--name=value`, replacing the hop's default of the same name
   * (core/commands/build.ts `hopV8FlagsFor`); baked into binaries and passed
   * to hops started from source. For a workload whose garbage differs from
   * a relay's (an OPC UA client decodes objects per change).
   */
  v8Flags?(config: HopConfig): string[];
  /**
   * Environment variables the configuration's adapters run better with
   * (core/commands/spawn.ts `hopEnvFor`; hops have none of their own): set by
   * `hopgate demo`, the tests and the benchmarks, and by the systemd unit of
   * a deployed binary, which cannot set its own (an OPC UA client's malloc arenas).
   */
  env?(config: HopConfig): Record<string, string>;
}

let registered: readonly Plugin[] = [];
let version = 0;

/** Registers the hop's plugins (adapters/all.ts does, once); replaces any earlier list. */
export function registerPlugins(list: readonly Plugin[]): void {
  const names = new Set<string>();
  for (const p of list) {
    if (names.has(p.name)) throw new Error(`Two plugins are named "${p.name}"`);
    names.add(p.name);
  }
  registered = list;
  version++;
}

/** The registered plugins, in start order. */
export function plugins(): readonly Plugin[] {
  return registered;
}

/** Changes each time the list is replaced, so derived schemas know when to rebuild. */
export function pluginsVersion(): number {
  return version;
}
