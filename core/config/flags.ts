/**
 * Flag parsing, kept in one module so the flag library can be swapped
 * locally: every declared option becomes a flag of the hop commands.
 */
import { Command, Option } from "commander";
import { dirname, resolve } from "node:path";
import {
  type ConfigLayer,
  type HopConfig,
  kebab,
  optionInfos,
  readConfigFile,
  resolveConfig,
} from "./mod.ts";

/** Renders an option's default for help and the README. */
export function defaultText(info: { defaultText?: string; defaultValue: unknown }): string {
  if (info.defaultText) return info.defaultText;
  const v = info.defaultValue;
  if (v === undefined || v === false) return "";
  if (Array.isArray(v)) return v.length ? v.join(",") : "";
  return String(v);
}

/** Adds every hop option, `--config` and the hidden `--baked` layer to a command. */
export function addHopOptions(cmd: Command): Command {
  cmd.option("--config <file>", "YAML file with any of these options as keys; flags override it");
  cmd.addOption(new Option("--baked <json>", "configuration baked in by hopgate build").hideHelp());
  for (const info of optionInfos()) {
    const d = defaultText(info);
    const help = d ? `${info.help} (default: ${d})` : info.help;
    const spec = info.arg ? `${info.flag} ${info.arg}` : info.flag;
    const opt = new Option(spec, help);
    if (info.repeatable) {
      opt.argParser((v: string, prev: unknown) => [...(Array.isArray(prev) ? prev : []), v]);
    }
    cmd.addOption(opt);
  }
  return cmd;
}

/** The layers of a hop's configuration as given to a command. */
export interface GivenConfig {
  /** Built-in, file and flag layers, each overriding the ones before. */
  layers: ConfigLayer[];
  /** The `--config` file, absolute, if one was given. */
  configFile: string | null;
}

/** Splits a command's parsed options into configuration layers. */
export function givenConfig(opts: Record<string, unknown>, cwd = Deno.cwd()): GivenConfig {
  const { config, baked, ...flags } = opts;
  const layers: ConfigLayer[] = [];
  if (typeof baked === "string") {
    layers.push({ label: "built-in configuration", baseDir: "/", values: JSON.parse(baked) });
  }
  let configFile: string | null = null;
  if (typeof config === "string") {
    configFile = resolve(cwd, config);
    layers.push({
      label: config,
      baseDir: dirname(configFile),
      values: readConfigFile(configFile),
    });
  }
  const known = new Set(optionInfos().map((i) => i.key as string));
  const given = Object.fromEntries(Object.entries(flags).filter(([k]) => known.has(k)));
  layers.push({ label: null, baseDir: cwd, values: given });
  return { layers, configFile };
}

/** Parses a command's options into a validated configuration. */
export function configFromOptions(
  opts: Record<string, unknown>,
  options: { cwd?: string; onUnreadableFiles?: (problems: string[]) => void } = {},
): { config: HopConfig; given: GivenConfig } {
  const cwd = options.cwd ?? Deno.cwd();
  const given = givenConfig(opts, cwd);
  const resolveOptions = options.onUnreadableFiles
    ? { cwd, onUnreadableFiles: options.onUnreadableFiles }
    : { cwd };
  return { config: resolveConfig(given.layers, resolveOptions), given };
}

/** Turns raw option values back into flags (for subprocesses and baked arguments). */
export function toFlags(values: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [key, v] of Object.entries(values)) {
    const flag = `--${kebab(key)}`;
    if (v === true) out.push(flag);
    else if (v === false || v === undefined || v === null) continue;
    else if (Array.isArray(v)) { for (const x of v) out.push(flag, String(x)); }
    else out.push(flag, String(v));
  }
  return out;
}

export { Command };
