/**
 * Checks, at startup, what the process was actually granted against what its
 * configuration needs: missing permissions would fail later, excess ones
 * break the sandbox promise.
 */
import type { PermissionSet } from "./permissions.ts";

/** What the check found. */
export interface SandboxReport {
  /** Needed descriptors that are not granted. */
  missing: string[];
  /** Grants broader than needed (`unrestricted net`, `listen on any interface`). */
  excess: string[];
}

/** Queries Deno's permission state for the needed set and for broad grants. */
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
        kind: kind as NonNullable<Deno.SysPermissionDescriptor["kind"]>,
      })
    ) {
      missing.push(`sys ${kind}`);
    }
  }

  const broad: [Deno.PermissionDescriptor, string][] = [
    [{ name: "net" }, "unrestricted network"],
    [{ name: "read" }, "unrestricted file reads"],
    [{ name: "write" }, "unrestricted file writes"],
    [{ name: "env" }, "all environment variables"],
    [{ name: "sys" }, "all system information"],
    [{ name: "run" }, "running any program"],
    [{ name: "ffi" }, "loading native libraries"],
  ];
  for (const [d, what] of broad) if (await granted(d)) excess.push(what);
  const listensAnywhere = needed.net.some((h) => h.startsWith("0.0.0.0:") || h.startsWith("[::]:"));
  if (!listensAnywhere && !excess.includes("unrestricted network")) {
    if (await granted({ name: "net", host: "0.0.0.0" })) {
      excess.push("listening on every interface");
    }
  }
  if (needed.read.length > 0 && !excess.includes("unrestricted file reads")) {
    if (await granted({ name: "read", path: "/" })) excess.push("reading the whole file system");
  }
  if (!excess.includes("unrestricted file writes") && await granted({ name: "write", path: "/" })) {
    excess.push("writing the whole file system");
  }
  return { missing, excess };
}
