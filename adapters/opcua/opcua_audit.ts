/**
 * The audit trail of the hop's OPC UA server: one line per write (who, from
 * which client application and address, which point, which value type, and
 * the result), bounded so that a client writing in a loop cannot fill the
 * disk: the first writes of an interval get their line, the rest are counted
 * and summed up in one line when the interval ends. Failed logins go through
 * core's RefusalLog, which bounds them the same way.
 */
import { join } from "node:path";
import {
  ActivateSessionRequest,
  ActivateSessionResponse,
  DataType as UaType,
  type OPCUAServer,
  type Request,
  type Response,
  type ServerSecureChannelLayer,
  type ServerSession,
  UserNameIdentityToken,
  VariantArrayType,
  WriteRequest,
  WriteResponse,
  X509IdentityToken,
} from "node-opcua";
import type { Clock, RefusalLog, TimerId } from "../../core/mod.ts";
import { certificateFacts, rejectedFile } from "./opcua_trust.ts";
import { readUsers } from "./opcua_users.ts";

/** One write by an OPC UA client, as the audit line tells it. */
export interface AuditedWrite {
  /** The session's user name, or `anonymous`, or `certificate <subject>`. */
  user: string;
  /** The client application's URI and name, from its session. */
  application: string;
  /** The client's remote address. */
  remote: string;
  /** The point id (or node id when it is no point). */
  point: string;
  /** The OPC UA type of the written value (`Double`, `Int32[]`). */
  type: string;
  /** The status name the client got (`Good`, `BadNotWritable`). */
  result: string;
}

/** Where audit lines go. */
export interface AuditSink {
  info(message: string, properties: Record<string, unknown>): void;
  warn(message: string, properties: Record<string, unknown>): void;
}

/** Writes logged one by one per interval before they are only counted. */
const defaultPerInterval = 100;

/** Logs writes, bounded per interval (see the module comment). */
export class WriteAudit {
  #log: AuditSink;
  #clock: Clock;
  #interval: number;
  #perInterval: number;
  #timer: TimerId | null = null;
  #logged = 0;
  #since = 0;
  /** Writes not logged one by one in this interval, by result. */
  #unlogged = new Map<string, number>();

  constructor(options: { log: AuditSink; clock: Clock; interval?: number; perInterval?: number }) {
    this.#log = options.log;
    this.#clock = options.clock;
    this.#interval = options.interval ?? 10_000;
    this.#perInterval = options.perInterval ?? defaultPerInterval;
  }

  /** Records one write: a line while the interval has room, else a count for its summary. */
  record(w: AuditedWrite): void {
    if (this.#timer === null) {
      this.#since = this.#clock.now();
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = null;
        this.flush();
      }, this.#interval);
    }
    if (this.#logged < this.#perInterval) {
      this.#logged++;
      const line = "OPC UA write by {user} ({application}, {remote}) to {point} ({type}): {result}";
      const properties = { audit: "write", ...w };
      if (w.result === "Good") this.#log.info(line, properties);
      else this.#log.warn(line, properties);
      return;
    }
    this.#unlogged.set(w.result, (this.#unlogged.get(w.result) ?? 0) + 1);
  }

  /** Ends the interval: one summary line when writes went unlogged (at stop, and by the timer). */
  flush(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    const count = [...this.#unlogged.values()].reduce((a, b) => a + b, 0);
    if (count > 0) {
      const seconds = Math.max(1, Math.round((this.#clock.now() - this.#since) / 1000));
      this.#log.warn(
        "{count} more OPC UA writes in the last {seconds} s were not logged one by one ({results})",
        {
          audit: "write",
          count,
          seconds,
          results: [...this.#unlogged].map(([r, n]) => `${n} ${r}`).join(", "),
        },
      );
    }
    this.#logged = 0;
    this.#unlogged.clear();
  }
}

/** What a request to audit carried, kept until its response. */
type Pending =
  | { kind: "write"; who: Omit<AuditedWrite, "point" | "type" | "result">; nodes: Written[] }
  | { kind: "login"; token: unknown; application: string; remote: string };

interface Written {
  point: string;
  type: string;
}

/** Requests awaiting their response, per channel; bounded in case responses never come. */
const maxPendingPerChannel = 256;

/** A session's user as the audit names it. */
function userOf(token: unknown): string {
  if (token instanceof UserNameIdentityToken) return `user "${token.userName ?? ""}"`;
  if (token instanceof X509IdentityToken) {
    const facts = token.certificateData ? certificateFacts(token.certificateData) : null;
    return `user certificate "${facts?.name ?? ""}" (thumbprint ${facts?.thumbprint ?? "?"})`;
  }
  return "anonymous";
}

/** The client application of a session: its URI and name, as it declared them. */
function applicationOf(session: ServerSession | null): string {
  const d = session?.clientDescription;
  if (!d) return "unknown application";
  return `${d.applicationUri ?? ""} "${d.applicationName?.text ?? ""}"`;
}

function remoteOf(channel: ServerSecureChannelLayer): string {
  return `${channel.remoteAddress ?? "?"}:${channel.remotePort ?? "?"}`;
}

/**
 * Watches a server's requests and responses: every write gets an audit line
 * (through {@link WriteAudit}), every failed session activation a refusal
 * (wrong password, unknown user, anonymous or user certificate refused).
 * Returns the function that stops watching and flushes the counts.
 */
export function auditServer(
  server: OPCUAServer,
  options: {
    /** Index of the points' namespace: node ids there are shown as point ids. */
    namespace: number;
    log: AuditSink;
    clock: Clock;
    refusals: RefusalLog;
    /** The users file, read again on a failed password login to tell an unknown user apart. */
    usersFile: string;
    /** The user certificates' trust folders, named in a refused user certificate's line. */
    userPki: string;
  },
): () => void {
  const writes = new WriteAudit({ log: options.log, clock: options.clock });
  const pending = new WeakMap<ServerSecureChannelLayer, Map<number, Pending>>();
  const keep = (channel: ServerSecureChannelLayer, handle: number, p: Pending) => {
    let m = pending.get(channel);
    if (!m) pending.set(channel, m = new Map());
    if (m.size >= maxPendingPerChannel) m.delete(m.keys().next().value!);
    m.set(handle, p);
  };
  const onRequest = (request: Request, channel: ServerSecureChannelLayer) => {
    const handle = request.requestHeader.requestHandle;
    const session = server.getSession(request.requestHeader.authenticationToken);
    if (request instanceof WriteRequest) {
      keep(channel, handle, {
        kind: "write",
        who: {
          user: userOf(session?.userIdentityToken),
          application: applicationOf(session),
          remote: remoteOf(channel),
        },
        nodes: (request.nodesToWrite ?? []).map((n) => {
          const v = n.value?.value;
          const array = v?.arrayType === VariantArrayType.Array ? "[]" : "";
          return {
            point: n.nodeId.namespace === options.namespace && typeof n.nodeId.value === "string"
              ? n.nodeId.value
              : n.nodeId.toString(),
            type: v ? `${UaType[v.dataType]}${array}` : "no value",
          };
        }),
      });
    } else if (request instanceof ActivateSessionRequest) {
      keep(channel, handle, {
        kind: "login",
        token: request.userIdentityToken,
        application: applicationOf(session),
        remote: remoteOf(channel),
      });
    }
  };
  const onResponse = (response: Response, channel: ServerSecureChannelLayer) => {
    const m = pending.get(channel);
    const handle = response.responseHeader.requestHandle;
    const p = m?.get(handle);
    if (!m || !p) return;
    m.delete(handle);
    const service = response.responseHeader.serviceResult;
    if (p.kind === "write" && response instanceof WriteResponse) {
      p.nodes.forEach((n, i) => {
        const code = service.isNotGood() ? service : response.results?.[i] ?? service;
        writes.record({ ...p.who, ...n, result: code.name });
      });
    } else if (p.kind === "login" && response instanceof ActivateSessionResponse) {
      if (service.isGood()) return;
      void loginRefusal(p, service.name, options).then((r) =>
        options.refusals.refuse({ ...r, remote: p.remote, what: "login" })
      );
    }
  };
  server.on("request", onRequest);
  server.on("response", onResponse);
  return () => {
    server.off("request", onRequest);
    server.off("response", onResponse);
    writes.flush();
  };
}

/** Why a session activation failed, as a fixed label and a full sentence. */
async function loginRefusal(
  p: { token: unknown; application: string },
  status: string,
  options: { usersFile: string; userPki: string },
): Promise<{ reason: string; detail: string }> {
  const app = `client application ${p.application}`;
  if (p.token instanceof UserNameIdentityToken) {
    const user = p.token.userName ?? "";
    const known = await readUsers(options.usersFile).then(
      (f) => Object.hasOwn(f.users, user),
      () => false,
    );
    return known
      ? {
        reason: "wrong password",
        detail: `wrong password for user "${user}" (${status}), ${app}`,
      }
      : {
        reason: "unknown user",
        detail: `unknown user "${user}" (${status}), ${app}; add it with hopgate users add`,
      };
  }
  if (p.token instanceof X509IdentityToken) {
    const thumbprint = p.token.certificateData
      ? certificateFacts(p.token.certificateData).thumbprint
      : "";
    const file = thumbprint ? await rejectedFile(options.userPki, thumbprint) : null;
    const trust = file
      ? `; it was saved as ${file}: if you know it, move it to ${
        join(options.userPki, "trusted", "certs")
      }`
      : "";
    return {
      reason: "user certificate refused",
      detail: `${userOf(p.token)} refused (${status}), ${app}${trust}`,
    };
  }
  return {
    reason: "anonymous refused",
    detail: `anonymous session refused (${status}), ${app}`,
  };
}
