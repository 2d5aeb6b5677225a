/** Options of the OPC UA client (PLC sources) and server (in-house clients). */
import { z } from "zod";
import {
  duration,
  filePath,
  flag,
  hopNamePattern,
  hostPort,
  int,
  option,
  type OptionValues,
  repeated,
  stringList,
} from "../../core/mod.ts";

/** One PLC to read: a name for its points' ids and its endpoint. */
export interface OpcuaEndpoint {
  /** The second segment of its points' ids (`plant1/<name>/...`). */
  name: string;
  /** Its `opc.tcp://` endpoint URL. */
  url: URL;
}

/** Security modes and policies accepted for OPC UA connections. */
export const opcuaSecurityChoices = [
  "SignAndEncrypt:Basic256Sha256",
  "SignAndEncrypt:Aes128_Sha256_RsaOaep",
  "SignAndEncrypt:Aes256_Sha256_RsaPss",
  "Sign:Basic256Sha256",
  "Sign:Aes128_Sha256_RsaOaep",
  "Sign:Aes256_Sha256_RsaPss",
  "None",
] as const;

/** `[name=]opc.tcp://host:port[/path]`; the name defaults to the host. */
function opcuaEndpoint() {
  return z.string().transform((text, ctx): OpcuaEndpoint => {
    const m = /^(?:([A-Za-z0-9][A-Za-z0-9_.-]*)=)?(opc\.tcp:\/\/.+)$/.exec(text.trim());
    let url: URL | null = null;
    try {
      url = m ? new URL(m[2]!) : null;
    } catch {
      url = null;
    }
    if (!m || !url || url.hostname === "" || url.port === "") {
      ctx.issues.push({
        code: "custom",
        input: text,
        message:
          `"${text}" is not [name=]opc.tcp://host:port[/path] (for example plc1=opc.tcp://10.0.0.20:4840)`,
      });
      return z.NEVER;
    }
    const name = m[1] ?? url.hostname.replace(/[^A-Za-z0-9_.-]/g, "_");
    if (!hopNamePattern.test(name)) {
      ctx.issues.push({ code: "custom", input: text, message: `"${name}" is not a source name` });
      return z.NEVER;
    }
    return { name, url };
  });
}

/** OPC UA node id text: `i=85`, `ns=2;s=Line2.Temp`, `ns=3;g=…`, `ns=1;b=…`. */
const nodeIdPattern = /^(ns=\d+;)?(i=\d+|s=.+|g=[0-9A-Fa-f-]{36}|b=[A-Za-z0-9+/=]+)$/;

/** Checks node ids before anything starts, rather than at every reconnect. */
function nodeIdProblem(id: string): string | null {
  return nodeIdPattern.test(id)
    ? null
    : `"${id}" is not an OPC UA node id (for example i=85 or ns=2;s=Line2.Temperature)`;
}

/** Shortest publishing interval accepted (servers revise lower ones up anyway). */
const minPublishing = 10;
/** Longest sampling or publishing interval accepted: the session timeout grows with it. */
const maxInterval = 600_000;

const security = z.enum(opcuaSecurityChoices, {
  error: (i) =>
    `"${String(i.input)}" is not a security setting; choose one of ${
      opcuaSecurityChoices.join(", ")
    }`,
});

/** The OPC UA client's and server's options: endpoints, security, users, nodes. */
export const opcuaOptions = {
  opcua: option(repeated(opcuaEndpoint()).default([]), {
    group: "OPC UA client",
    arg: "<[name=]opc.tcp://host:port>",
    repeatable: true,
    help:
      "Read a PLC's OPC UA server; its points are named <hop>/<name>/<browse path> (repeatable)",
  }),
  opcuaSecurity: option(security.default("SignAndEncrypt:Basic256Sha256"), {
    group: "OPC UA client",
    arg: "<mode:policy>",
    help: `Message security towards PLCs: ${opcuaSecurityChoices.join(", ")}`,
  }),
  opcuaUser: option(z.string().min(1).optional(), {
    group: "OPC UA client",
    arg: "<user>",
    help: "User name for the PLC session (password from --opcua-password-file or -env)",
  }),
  opcuaPasswordFile: option(filePath().optional(), {
    path: true,
    group: "OPC UA client",
    arg: "<file>",
    help: "File holding the PLC user's password",
  }),
  opcuaPasswordEnv: option(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(), {
    group: "OPC UA client",
    arg: "<VAR>",
    help: "Environment variable holding the PLC user's password",
  }),
  opcuaUserCert: option(filePath().optional(), {
    path: true,
    group: "OPC UA client",
    arg: "<file>",
    help: "X.509 user token certificate (PEM) for the PLC session",
  }),
  opcuaUserKey: option(filePath().optional(), {
    path: true,
    group: "OPC UA client",
    arg: "<file>",
    help: "Private key (PEM) of the X.509 user token",
  }),
  opcuaNodes: option(
    stringList().default([]).superRefine((ids, ctx) => {
      for (const id of ids) {
        const problem = nodeIdProblem(id);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }
    }),
    {
      group: "OPC UA client",
      arg: "<nodeId,...>",
      help: "Node ids to read, in addition to what --opcua-browse finds",
    },
  ),
  opcuaBrowse: option(
    z.string().refine((id) => nodeIdProblem(id) === null, {
      error: (i) => nodeIdProblem(String(i.input)) ?? "",
    }).optional(),
    {
      group: "OPC UA client",
      arg: "<nodeId>",
      help: "Browse below this node and read every variable found",
      defaultText: "the Objects folder (i=85) when --opcua-nodes is not given",
    },
  ),
  opcuaInclude: option(stringList().default([]), {
    group: "OPC UA client",
    arg: "<pattern,...>",
    help: "Read only browsed variables whose browse path matches (* and **)",
  }),
  opcuaExclude: option(stringList().default([]), {
    group: "OPC UA client",
    arg: "<pattern,...>",
    help: "Skip browsed variables whose browse path matches (* and **)",
  }),
  opcuaSampling: option(
    duration().refine((ms) => ms <= maxInterval, {
      error: (i) => `${String(i.input)} is above ${maxInterval / 60_000} min; sample more often`,
    }).default(250),
    {
      group: "OPC UA client",
      arg: "<duration>",
      help:
        "How often the PLC samples each variable for changes (0: as fast as it can); see Reading PLCs",
    },
  ),
  opcuaPublishing: option(
    duration().refine((ms) => ms >= minPublishing && ms <= maxInterval, {
      error: (i) =>
        `${String(i.input)} is not between ${minPublishing} ms and ${
          maxInterval / 60_000
        } min; the latest values arrive once per publishing interval`,
    }).default(500),
    {
      group: "OPC UA client",
      arg: "<duration>",
      help:
        "How often the PLC sends what changed; keep-alive, subscription lifetime and session timeout follow it",
    },
  ),
  opcuaQueue: option(int(0, 10_000).default(0), {
    group: "OPC UA client",
    arg: "<n>",
    help:
      "Samples the PLC keeps per variable between two publishes; 0 derives it (publishing ÷ sampling + 1, at least 2)",
  }),
  opcuaMaxItems: option(int(0).default(0), {
    group: "OPC UA client",
    arg: "<n>",
    help: "Most monitored items per subscription; 0 uses the server's operation limits",
  }),
  opcuaMaxVariables: option(int(1, 10_000_000).default(1_000_000), {
    group: "OPC UA client",
    arg: "<n>",
    help:
      "Most variables read from one PLC; more are left out with a warning (each costs the hop about 3 KB)",
  }),
  opcuaTrustUnknown: option(flag(), {
    group: "OPC UA client",
    help: "Trust unknown PLC certificates (first setup only; they are otherwise put in rejected/)",
  }),
  opcuaServer: option(hostPort().optional(), {
    group: "OPC UA server",
    arg: "<host:port>",
    help: "Serve this hop's mirrored data set to OPC UA clients on this address",
  }),
  opcuaServerSecurity: option(repeated(security).default(["SignAndEncrypt:Basic256Sha256"]), {
    group: "OPC UA server",
    arg: "<mode:policy>",
    repeatable: true,
    help: "Security settings the server offers (repeatable); None only when listed",
  }),
  opcuaServerAnonymous: option(flag(), {
    group: "OPC UA server",
    help: "Let OPC UA clients connect without a user",
  }),
  opcuaUsers: option(filePath().optional(), {
    path: true,
    group: "OPC UA server",
    arg: "<file>",
    help: "Users file with salted password hashes (written by hopgate users add)",
    defaultText: "<data-dir>/users.json",
  }),
};

/** The OPC UA settings, with the users file resolved. */
export type OpcuaConfig = Omit<OptionValues<typeof opcuaOptions>, "opcuaUsers"> & {
  opcuaUsers: string;
};

declare module "../../core/config/mod.ts" {
  /** The OPC UA adapters' settings are part of every hop's configuration. */
  interface HopConfig extends OpcuaConfig {}
}
