/**
 * The least Deno permission set a hop's configuration needs. This is the
 * product's main security promise: a built hop can reach exactly the
 * addresses and files its configuration names, and nothing else.
 */
import { fileURLToPath } from "node:url";
import type { HopConfig } from "./config/mod.ts";
import { plugins } from "./plugin.ts";

/** Deno permissions as lists of exact descriptors; an empty list means not granted at all. */
export interface PermissionSet {
  /** host:port pairs dialled or listened on. */
  net: string[];
  /** Files and folders read (absolute). */
  read: string[];
  /** Files and folders written (absolute): the hop's data directory. */
  write: string[];
  /** Environment variables read. */
  env: string[];
  /** System information kinds (`hostname`, `networkInterfaces`). */
  sys: string[];
  /**
   * Environment variables that libraries probe but the hop does not need:
   * reads of them return undefined (`--ignore-env`) instead of failing.
   */
  ignoreEnv: string[];
}

/**
 * True inside a `deno compile` binary, whose modules live under a
 * `deno-compile-<name>` virtual folder. Deno grants reads of the embedded npm
 * packages implicitly there (denoland/deno#19281).
 */
const runningCompiled = /[\\/]deno-compile-/.test(fileURLToPath(import.meta.url));

/**
 * `paths` and, for each that resolves elsewhere (a symlinked checkout or
 * node_modules folder), its real path as well: npm packages find their own
 * files through resolved paths, and the runtime checks a read against the
 * path it is given, so a package folder granted only by its link path was
 * refused. A path that cannot be resolved (missing, not readable) is kept
 * as given.
 */
export function withRealPaths(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    out.push(p);
    let real: string;
    try {
      real = Deno.realPathSync(p);
    } catch {
      continue;
    }
    if (real !== p) out.push(real);
  }
  return out;
}

/**
 * Derives the permission set of a hop; `configFile` is read at startup under
 * `deno run`. With `embeddedPackages` (for `deno compile`, and inside a built
 * binary) the library package folders are left out: they are embedded.
 */
export function derivePermissions(
  c: HopConfig,
  options: { configFile?: string; embeddedPackages?: boolean } = {},
): PermissionSet {
  const embedded = options.embeddedPackages ?? runningCompiled;
  const net = new Set<string>();
  const read = new Set<string>([c.dataDir]);
  const write = new Set<string>([c.dataDir]);
  const env = new Set<string>();
  const sys = new Set<string>();
  const ignoreEnv = new Set<string>();
  if (options.configFile) read.add(options.configFile);
  for (const p of plugins()) {
    const needs = p.permissions(c, { embedded });
    for (const v of needs.net ?? []) net.add(v);
    for (const v of needs.read ?? []) read.add(v);
    for (const v of needs.env ?? []) env.add(v);
    for (const v of needs.sys ?? []) sys.add(v);
    for (const v of needs.ignoreEnv ?? []) ignoreEnv.add(v);
  }
  return {
    net: [...net],
    read: minimalPaths(read),
    write: minimalPaths(write),
    env: [...env].sort(),
    sys: [...sys].sort(),
    ignoreEnv: [...ignoreEnv].filter((v) => !env.has(v)).sort(),
  };
}

/** Drops paths already covered by a listed parent directory. */
function minimalPaths(paths: Set<string>): string[] {
  const sorted = [...paths].sort();
  return sorted.filter((p) =>
    !sorted.some((q) => q !== p && p.startsWith(q.endsWith("/") ? q : `${q}/`))
  );
}

/** The `deno run` / `deno compile` flags granting exactly this set, with prompts off. */
export function permissionFlags(p: PermissionSet): string[] {
  const flags = ["--no-prompt"];
  for (const kind of ["net", "read", "write", "env", "sys"] as const) {
    if (p[kind].length > 0) flags.push(`--allow-${kind}=${p[kind].join(",")}`);
  }
  if (p.ignoreEnv.length > 0) flags.push(`--ignore-env=${p.ignoreEnv.join(",")}`);
  return flags;
}

/** One line describing a permission set, for logs and `--dry-run`. */
export function describePermissions(p: PermissionSet): string {
  const part = (k: keyof PermissionSet) => `${k}=${p[k].length ? p[k].join(",") : "none"}`;
  return `${part("net")} ${part("read")} ${part("write")} ${part("env")} ${
    part("sys")
  } run=none ffi=none`;
}
