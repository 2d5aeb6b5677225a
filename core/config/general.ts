/** Options every hop has: identity, data directory, logging, write policy. */
import { z } from "zod";
import { duration, flag, fromZod, option, type SchemaBuilder, stringList } from "./option.ts";

/** Hop names are path segments of point ids and certificate names. */
export const hopNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** A hop name, checked against {@link hopNamePattern}. */
export function hopName(): SchemaBuilder<string> {
  return fromZod(
    z.string({ error: "expected a hop name" }).regex(hopNamePattern, {
      error: (i) =>
        `"${String(i.input)}" is not a hop name: use letters, digits, "_", "-" or "." (at most 63)`,
    }),
  );
}

/** The options of every hop, whatever its plugins: core declares them, plugins add their own. */
export const generalOptions = {
  name: option(hopName(), {
    group: "Hop",
    arg: "<name>",
    help: "This hop's unique name in the chain; the first segment of the ids of its own points",
  }),
  dataDir: option(z.string().min(1).optional(), {
    path: true,
    group: "Hop",
    arg: "<dir>",
    help: "Where the hop keeps certificates, buffers and state",
    defaultText: "./hopgate-data/<name>",
  }),
  logFormat: option(z.enum(["text", "json"]).default("text"), {
    group: "Hop",
    arg: "<text|json>",
    help: "Log lines for people (text) or machines (json), on stderr",
  }),
  logLevel: option(z.enum(["debug", "info", "warning", "error"]).default("info"), {
    group: "Hop",
    arg: "<level>",
    help: "Least severe log level printed: debug, info, warning or error",
  }),
  statusInterval: option(duration().default(10_000), {
    group: "Hop",
    arg: "<duration>",
    help: "How often the hop logs a status line (points, updates/s, adapters); 0 turns it off",
  }),
  certCheck: option(duration().default(10_000), {
    group: "Hop",
    arg: "<duration>",
    help: "How often to look for changed certificate and key files to reload (0: on SIGHUP only)",
  }),
  allowBroadPermissions: option(flag(), {
    group: "Hop",
    help: "Start even when granted more Deno permissions than the configuration needs",
  }),
  writable: option(stringList().default([]), {
    group: "Hop",
    arg: "<pattern,...>",
    help: "Point ids this hop lets writes through to (* within a segment, ** across); default none",
  }),
  writeTimeout: option(duration().default(10_000), {
    group: "Hop",
    arg: "<duration>",
    help: "How long a write request waits for its result before failing with BadTimeout",
  }),
};
