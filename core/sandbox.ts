/**
 * Checks, at startup, what the process was actually granted against what its
 * configuration needs: missing permissions would fail later, excess ones
 * break the sandbox promise.
 *
 * Deno cannot list what a process was granted: `Deno.permissions.query`
 * answers only for the descriptor it is given, `PermissionStatus.partial` is
 * true only for a broad grant with some parts denied (never for a narrow
 * grant), and the process's own command line (`/proc/self/cmdline`) needs
 * `--allow-all`. So narrow extra grants are found by probing: every kind a
 * hop never needs is queried for likely targets, and path grants are probed
 * at every folder above what the hop needs and at likely places. A grant
 * nobody would guess (`--allow-ffi=/opt/x/lib.so`, `--allow-env=SOME_VAR`,
 * `--allow-net=<needed>,10.1.1.1:22`) stays invisible here; the binary that
 * `hopgate build` makes has exactly the derived grants and denies the rest.
 */
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { PermissionSet } from "./permissions.ts";

/** What the check found. */
export interface SandboxReport {
  /** Needed descriptors that are not granted. */
  missing: string[];
  /**
   * Grants beyond what is needed: broad ones (`unrestricted network`) and
   * narrow ones named by kind and target (`run /bin/sh`, `write /tmp`, `env HOME`).
   */
  excess: string[];
}

/**
 * The hosts Deno lets code be imported from when no `--allow-import` is given
 * (port 443 only; measured on Deno 2.9.6, where queries of `host:443` answer
 * "granted"). An `--allow-import` list replaces them, a bare `--deny-import`
 * leaves them in place, and only denying each `host:443` removes them, which
 * `hopgate build` does.
 */
export const denoDefaultImportHosts = [
  "deno.land",
  "jsr.io",
  "esm.sh",
  "raw.esm.sh",
  "cdn.jsdelivr.net",
  "raw.githubusercontent.com",
  "gist.githubusercontent.com",
];

type SysKind = NonNullable<Deno.SysPermissionDescriptor["kind"]>;

/**
 * Every `--allow-sys` value Deno 2.9.6 accepts (it rejects others), so sys grants are seen
 * exactly. `userInfo` is left out: it and `username` grant each other. `getegid` is accepted
 * and answers queries but is missing from the `SysPermissionDescriptor` type, hence the cast.
 */
const sysKinds = [
  "cpus",
  "getPriority",
  "getegid",
  "gid",
  "homedir",
  "hostname",
  "loadavg",
  "networkInterfaces",
  "osRelease",
  "osUptime",
  "setPriority",
  "statfs",
  "systemMemoryInfo",
  "uid",
  "username",
] as SysKind[];

/** Programs worth running for an attacker: shells, interpreters, downloaders, privilege tools. */
const programs = [
  "sh",
  "bash",
  "dash",
  "zsh",
  "ksh",
  "fish",
  "csh",
  "busybox",
  "env",
  "sudo",
  "su",
  "doas",
  "python",
  "python3",
  "perl",
  "ruby",
  "php",
  "node",
  "deno",
  "bun",
  "java",
  "curl",
  "wget",
  "nc",
  "ncat",
  "socat",
  "ssh",
  "scp",
  "openssl",
  "systemctl",
  "cmd",
  "cmd.exe",
  "powershell",
  "powershell.exe",
  "pwsh",
];
const programDirs = ["/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin"];

/** Environment variables worth reading: identity, paths, proxies, runtime switches, cloud and CI secrets. */
const envProbes = [
  "HOME",
  "PATH",
  "USER",
  "LOGNAME",
  "SHELL",
  "PWD",
  "HOSTNAME",
  "LANG",
  "TERM",
  "TZ",
  "TMPDIR",
  "TEMP",
  "TMP",
  "USERPROFILE",
  "APPDATA",
  "LOCALAPPDATA",
  "SYSTEMROOT",
  "COMSPEC",
  "XDG_RUNTIME_DIR",
  "XDG_CONFIG_HOME",
  "SSH_AUTH_SOCK",
  "DISPLAY",
  "DBUS_SESSION_BUS_ADDRESS",
  "LD_PRELOAD",
  "LD_LIBRARY_PATH",
  "NODE_OPTIONS",
  "NODE_EXTRA_CA_CERTS",
  "NODE_TLS_REJECT_UNAUTHORIZED",
  "DENO_DIR",
  "DENO_AUTH_TOKENS",
  "DENO_CERT",
  "NPM_TOKEN",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "ALL_PROXY",
  "http_proxy",
  "https_proxy",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AZURE_CLIENT_SECRET",
  "GOOGLE_APPLICATION_CREDENTIALS",
  "GITHUB_TOKEN",
  "GH_TOKEN",
  "CI",
  "KUBECONFIG",
  "DOCKER_HOST",
  "DATABASE_URL",
  "PASSWORD",
  "SECRET",
  "TOKEN",
  "API_KEY",
  "MQTT_PASSWORD",
  "OPCUA_PASSWORD",
];

/** Places worth reading, writing or loading a library from, besides those derived from the hop. */
const placeProbes = [
  "/tmp",
  "/var/tmp",
  "/dev/shm",
  "/etc",
  "/etc/shadow",
  "/etc/ssl/private",
  "/root",
  "/root/.ssh",
  "/home",
  "/run/secrets",
  "/var/run/secrets",
  "/var/lib",
  "/opt",
  "/srv",
  "/lib",
  "/usr/lib",
  "/usr/local/lib",
  "/proc",
  "/sys",
];

/** Hosts worth importing code from, besides Deno's defaults and the hosts the hop dials. */
const importProbes = [
  "unpkg.com",
  "cdn.skypack.dev",
  "ga.jspm.io",
  "esm.run",
  "github.com",
  "gitlab.com",
  "registry.npmjs.org",
  "localhost",
  "127.0.0.1",
];

/** True when Deno reports the descriptor granted; a descriptor Deno rejects counts as not granted. */
function grantedNow(d: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(d).state === "granted";
  } catch {
    return false;
  }
}

/** `p` and every folder above it, up to the root. */
function withAncestors(p: string): string[] {
  const out = [p];
  for (let up = dirname(p); up !== out[out.length - 1]; up = dirname(up)) out.push(up);
  return out;
}

/** True when `p` is one of `roots` or inside one. */
function within(p: string, roots: string[]): boolean {
  return roots.some((r) => p === r || p.startsWith(r.endsWith(sep) ? r : `${r}${sep}`));
}

/** The widest granted folder at or above `p`: the grant that covers it, as given on the command line. */
function widestGrant(name: "read" | "write" | "ffi", p: string): string {
  let top = p;
  for (let up = dirname(top); up !== top && grantedNow({ name, path: up }); up = dirname(top)) {
    top = up;
  }
  return top;
}

/**
 * Ports a hop could be given to listen on every interface besides its own:
 * remote access, web and proxies, databases, brokers, OPC UA, Modbus, S7,
 * EtherNet/IP, hopgate's usual link ports.
 */
const wildcardPorts = [
  21,
  22,
  23,
  25,
  53,
  80,
  102,
  443,
  502,
  1880,
  1883,
  2222,
  3000,
  3389,
  4840,
  4843,
  5000,
  5432,
  5900,
  6379,
  7000,
  7001,
  7002,
  7003,
  7004,
  7005,
  8000,
  8080,
  8081,
  8443,
  8883,
  9000,
  9090,
  9100,
  20000,
  44818,
];

/** The port of `host:port` (0 when there is none). */
function portOf(hostPort: string): number {
  const m = /:(\d+)$/.exec(hostPort);
  return m ? Number(m[1]) : 0;
}

/** Splits `host:port` or `[v6]:port` into its host. */
function hostOf(hostPort: string): string {
  return hostPort.replace(/:\d+$/, "");
}

/** True when `variable` is a needed name or matches a needed `PREFIX*` pattern. */
function envNeeded(variable: string, needed: string[]): boolean {
  return needed.some((n) => n.endsWith("*") ? variable.startsWith(n.slice(0, -1)) : n === variable);
}

/** Paths where a narrow read, write or library grant is worth looking for. */
function pathProbes(needed: PermissionSet): string[] {
  const roots = [...needed.read, ...needed.write, ...placeProbes, Deno.execPath()];
  try {
    roots.push(Deno.cwd());
  } catch { /* no cwd: nothing to probe there */ }
  if (import.meta.url.startsWith("file:")) roots.push(fileURLToPath(new URL(".", import.meta.url)));
  return [...new Set(roots.flatMap(withAncestors))];
}

/** Narrow grants of a kind a hop never needs or needs less of, found by probing (see the module doc). */
function narrowExcess(needed: PermissionSet, broad: Set<string>): string[] {
  const excess = new Set<string>();
  const paths = pathProbes(needed);
  for (const name of ["read", "write", "ffi"] as const) {
    if (broad.has(name)) continue;
    const own = name === "ffi" ? [] : needed[name];
    for (const p of paths) {
      // Inside a needed path is covered by it; the needed path itself is probed, since a
      // grant of a folder above it is wider than needed.
      if (within(p, own) && !own.includes(p)) continue;
      if (!grantedNow({ name, path: p })) continue;
      const top = widestGrant(name, p);
      if (own.includes(top)) continue;
      // Reads and writes of the whole file system are reported as broad grants already.
      if (name !== "ffi" && dirname(top) === top) continue;
      excess.add(`${name} ${top}`);
    }
  }

  if (!broad.has("run")) {
    const execPath = Deno.execPath();
    if (grantedNow({ name: "run", command: execPath })) excess.add(`run ${execPath}`);
    for (const program of programs) {
      const found = programDirs.map((d) => join(d, program)).filter((command) =>
        command !== execPath && grantedNow({ name: "run", command })
      );
      // A bare name is resolved through PATH, so it finds grants of installs elsewhere.
      if (found.length === 0 && grantedNow({ name: "run", command: program })) found.push(program);
      for (const f of found) excess.add(`run ${f}`);
    }
  }

  if (!broad.has("env")) {
    for (const variable of envProbes) {
      if (envNeeded(variable, needed.env)) continue;
      if (grantedNow({ name: "env", variable })) excess.add(`env ${variable}`);
    }
  }

  if (!broad.has("sys")) {
    for (const kind of sysKinds) {
      if (!needed.sys.includes(kind) && grantedNow({ name: "sys", kind })) {
        excess.add(`sys ${kind}`);
      }
    }
  }

  if (!broad.has("net")) {
    const hosts = new Set([...needed.net.map(hostOf), "127.0.0.1", "localhost", "[::1]"]);
    for (const host of hosts) {
      if (grantedNow({ name: "net", host })) excess.add(`net ${host} (every port)`);
    }
    // Listening on every interface: a grant names one port, so likely ports are probed (the
    // ports of the configuration's own addresses and usual service ports). Not every port:
    // Deno keeps each answered query, and a sweep of all 131,070 cost 90 MB of RSS for good.
    const ports = new Set([...wildcardPorts, ...needed.net.map(portOf)]);
    for (const wildcard of ["0.0.0.0", "[::]"]) {
      if (grantedNow({ name: "net", host: wildcard })) {
        excess.add(`net ${wildcard} (every port)`);
        continue;
      }
      for (const port of ports) {
        const host = `${wildcard}:${port}`;
        if (!needed.net.includes(host) && grantedNow({ name: "net", host })) {
          excess.add(`net ${host}`);
        }
      }
    }
  }

  if (!broad.has("import")) { for (const e of importExcess(needed)) excess.add(e); }
  return [...excess];
}

/**
 * Import grants: any is extra, as a hop loads no code at run time. Deno's default hosts
 * (denoDefaultImportHosts) count as granted under every `deno run` without `--allow-import`,
 * so they are not reported while all of them are in effect. An `--allow-import` list replaces
 * them, which shows as a default host answering "prompt": that reveals the list even when its
 * hosts are none of those probed here, though not which hosts it names. A list that names every
 * default host plus others looks like the default and is seen only through the hosts probed.
 */
function importExcess(needed: PermissionSet): string[] {
  const excess = new Set<string>();
  const state = (host: string) => {
    try {
      return Deno.permissions.querySync({ name: "import", host }).state;
    } catch {
      return "prompt";
    }
  };
  const defaults = denoDefaultImportHosts.map((h) => [`${h}:443`, state(`${h}:443`)] as const);
  const listGiven = defaults.some(([, s]) => s === "prompt");
  if (listGiven) {
    for (const [hostPort, s] of defaults) if (s === "granted") excess.add(`import ${hostPort}`);
  }
  const hosts = new Set([...denoDefaultImportHosts, ...importProbes, ...needed.net.map(hostOf)]);
  for (const host of hosts) {
    // A host without a port is granted only when every port of it is.
    if (state(host) === "granted") {
      excess.add(`import ${host}`);
      continue;
    }
    const ports = denoDefaultImportHosts.includes(host) ? [80] : [443, 80];
    for (const port of ports) {
      if (state(`${host}:${port}`) === "granted") excess.add(`import ${host}:${port}`);
    }
  }
  for (const hostPort of needed.net) {
    if (state(hostPort) === "granted") excess.add(`import ${hostPort}`);
  }
  if (listGiven && excess.size === 0) {
    excess.add("import from the unknown hosts of an --allow-import list");
  }
  return [...excess];
}

/** Queries Deno's permission state for the needed set, for broad grants and for narrow extra ones. */
export async function checkSandbox(needed: PermissionSet): Promise<SandboxReport> {
  const missing: string[] = [];
  const excess: string[] = [];
  const granted = async (d: Deno.PermissionDescriptor) =>
    (await Deno.permissions.query(d)).state === "granted";

  for (const host of needed.net) {
    if (!await granted({ name: "net", host })) missing.push(`net ${host}`);
  }
  for (const path of needed.read) {
    if (!await granted({ name: "read", path })) missing.push(`read ${path}`);
  }
  for (const path of needed.write) {
    if (!await granted({ name: "write", path })) missing.push(`write ${path}`);
  }
  for (const variable of needed.env) {
    if (!await granted({ name: "env", variable })) missing.push(`env ${variable}`);
  }
  for (const kind of needed.sys) {
    if (
      !await granted({
        name: "sys",
        kind: kind as SysKind,
      })
    ) {
      missing.push(`sys ${kind}`);
    }
  }

  const broadKinds: [Deno.PermissionDescriptor, string][] = [
    [{ name: "net" }, "unrestricted network"],
    [{ name: "read" }, "unrestricted file reads"],
    [{ name: "write" }, "unrestricted file writes"],
    [{ name: "env" }, "all environment variables"],
    [{ name: "sys" }, "all system information"],
    [{ name: "run" }, "running any program"],
    [{ name: "ffi" }, "loading native libraries"],
    [{ name: "import" }, "importing code from any host"],
  ];
  const broad = new Set<string>();
  for (const [d, what] of broadKinds) {
    if (await granted(d)) {
      excess.push(what);
      broad.add(d.name);
    }
  }
  if (!broad.has("read") && await granted({ name: "read", path: "/" })) {
    excess.push("reading the whole file system");
    broad.add("read");
  }
  if (!broad.has("write") && await granted({ name: "write", path: "/" })) {
    excess.push("writing the whole file system");
    broad.add("write");
  }
  excess.push(...narrowExcess(needed, broad));
  return { missing, excess };
}
