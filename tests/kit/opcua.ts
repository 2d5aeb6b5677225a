/**
 * Shared parts of the OPC UA tests: the PLC simulator in its own process,
 * hops under their derived permissions, and an OPC UA client in the test
 * process that reads a hop's --opcua-server exactly as in-house clients do.
 */
import { basename, join } from "node:path";
import {
  AttributeIds,
  type ClientSession,
  type DataValue,
  type EndpointDescription,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  type UserIdentityInfo,
  UserTokenType,
} from "node-opcua";
import { giveOpenSslConfAValue } from "../../adapters/opcua/opcua_log.ts";
import { fromVariant, type TypedValue } from "../../adapters/opcua/opcua_values.ts";
import { freePort, Proc } from "./helpers.ts";
import { spawnHop } from "./hops.ts";

const plcScript = new URL("../fixtures/plc_sim.ts", import.meta.url).pathname;

/** A PLC simulator process. */
export interface Plc {
  proc: Proc;
  port: number;
  url: string;
}

/** Starts the PLC simulator and waits until it listens. */
export async function startPlc(
  options: { count: number; port?: number; maxItems?: number; pki: string; extra?: string[] },
): Promise<Plc> {
  const port = options.port ?? freePort();
  const args = ["--port", String(port), "--count", String(options.count), "--pki", options.pki];
  if (options.maxItems) args.push("--max-items", String(options.maxItems));
  args.push(...options.extra ?? []);
  const proc = new Proc(["run", "-A", plcScript, ...args]);
  try {
    await proc.waitForLine(/PLC ready/, 60_000);
  } catch (e) {
    await proc.stop();
    throw new Error(`${(e as Error).message}\n${proc.output()}`);
  }
  return { proc, port, url: `opc.tcp://127.0.0.1:${port}/plc` };
}

/** Starts a hop with exactly its derived permissions ({@linkcode spawnHop}), without waiting. */
export function startHop(
  flags: string[],
  dir: string,
  options: { mallocDefaults?: boolean } = {},
): Proc {
  return spawnHop(dir, flags, options);
}

/**
 * Starts hop `plant1` reading `plc` and trusting its certificate (first setup), with
 * `extra` flags and its data in `data`.
 */
export function startPlantHop(plc: Plc, dir: string, data: string, extra: string[] = []): Proc {
  return startHop([
    "--name",
    "plant1",
    "--opcua",
    `plc=${plc.url}`,
    "--opcua-trust-unknown",
    ...extra,
    "--data-dir",
    data,
    "--status-interval",
    "0",
  ], dir);
}

/** An OPC UA client of a hop's server, trusted by it (its certificate made up front). */
export class TestClient {
  #client: OPCUAClient | null = null;
  #cm: OPCUACertificateManager;
  #dir: string;
  #uri: string;
  session: ClientSession | null = null;

  private constructor(dir: string, cm: OPCUACertificateManager, uri: string) {
    this.#dir = dir;
    this.#cm = cm;
    this.#uri = uri;
  }

  /**
   * Makes the client's certificate and puts it in the hop's server trust list
   * (unless `trust` is false); `uri` is its application URI.
   */
  static async create(
    dir: string,
    hopDataDir: string,
    options: { trust?: boolean; uri?: string } = {},
  ): Promise<TestClient> {
    giveOpenSslConfAValue(); // no deprecation warning when the client reads its key
    const uri = options.uri ?? "urn:hopgate-test:client";
    const cm = new OPCUACertificateManager({
      rootFolder: dir,
      automaticallyAcceptUnknownCertificate: true,
      disableFileWatchers: true,
    });
    await cm.initialize();
    const cert = join(dir, "own/certs/client_certificate.pem");
    await cm.createSelfSignedCertificate({
      applicationUri: uri,
      subject: "/CN=hopgate-test-client",
      dns: ["localhost"],
      startDate: new Date(Date.now() - 86_400_000),
      validity: 30,
      outputFile: cert,
    });
    if (options.trust !== false) {
      const trusted = join(hopDataDir, "opcua-server-pki", "trusted", "certs");
      await Deno.mkdir(trusted, { recursive: true });
      await Deno.copyFile(cert, join(trusted, `hopgate-test-${basename(dir)}.pem`));
    }
    return new TestClient(dir, cm, uri);
  }

  /** Connects with SignAndEncrypt and opens a session; throws when refused. */
  async connect(url: string, identity: UserIdentityInfo): Promise<ClientSession> {
    const client = OPCUAClient.create({
      applicationName: "hopgate-test-client",
      applicationUri: this.#uri,
      clientCertificateManager: this.#cm,
      certificateFile: join(this.#dir, "own/certs/client_certificate.pem"),
      privateKeyFile: join(this.#dir, "own/private/private_key.pem"),
      securityMode: MessageSecurityMode.SignAndEncrypt,
      securityPolicy: SecurityPolicy.Basic256Sha256,
      endpointMustExist: false,
      connectionStrategy: { maxRetry: 0 },
    });
    this.#client = client;
    try {
      await client.connect(url);
      this.session = await client.createSession(identity);
    } catch (e) {
      await client.disconnect().catch(() => {});
      throw e;
    }
    return this.session;
  }

  /** The security modes of the endpoints a server offers (no session needed). */
  async securityModes(url: string): Promise<string[]> {
    return (await this.endpoints(url)).map((e) => MessageSecurityMode[e.securityMode]);
  }

  /** The endpoints a server offers (no session needed). */
  async endpoints(url: string): Promise<EndpointDescription[]> {
    const client = OPCUAClient.create({
      clientCertificateManager: this.#cm,
      certificateFile: join(this.#dir, "own/certs/client_certificate.pem"),
      privateKeyFile: join(this.#dir, "own/private/private_key.pem"),
      applicationUri: this.#uri,
      endpointMustExist: false,
      connectionStrategy: { maxRetry: 0 },
    });
    try {
      await client.connect(url);
      return await client.getEndpoints();
    } finally {
      await client.disconnect();
    }
  }

  /**
   * Reads values by string node id, in a hop's points namespace (index 2) unless `ns` says
   * otherwise (the PLC simulator's variables are in its own namespace, index 1); each as
   * [status, typed value or null].
   */
  async read(
    ids: string[],
    ns = 2,
  ): Promise<{ status: number; typed: TypedValue | null; dv: DataValue }[]> {
    const out = [];
    for (let i = 0; i < ids.length; i += 500) {
      const dvs = await this.session!.read(
        ids.slice(i, i + 500).map((id) => ({
          nodeId: `ns=${ns};s=${id}`,
          attributeId: AttributeIds.Value,
        })),
      );
      for (const dv of dvs) {
        out.push({ status: dv.statusCode.value >>> 0, typed: fromVariant(dv.value), dv });
      }
    }
    return out;
  }

  /** Ends the session and connection but keeps the certificate, so `connect` can be called again. */
  async disconnect(): Promise<void> {
    await this.session?.close().catch(() => {});
    await this.#client?.disconnect().catch(() => {});
    this.session = null;
    this.#client = null;
  }

  async close(): Promise<void> {
    await this.disconnect();
    await this.#cm.dispose().catch(() => {});
  }
}

/** Identity of the test user (added with addUser before the hop starts). */
export const testUser: UserIdentityInfo = {
  type: UserTokenType.UserName,
  userName: "tester",
  password: "test-password",
};

/**
 * Stops a hop and fails when it does not exit by itself within `ms` after
 * SIGTERM (it is then killed, so no test leaves it behind).
 */
export async function stopHop(proc: Proc, ms = 15_000): Promise<Deno.CommandStatus> {
  const killer = setTimeout(() => {
    try {
      proc.child.kill("SIGKILL");
    } catch { /* exited */ }
  }, ms);
  try {
    const status = await proc.stop("SIGTERM");
    if (status.signal === "SIGKILL") {
      throw new Error(
        `The hop did not stop within ${ms} ms of SIGTERM:\n${proc.output().slice(-3000)}`,
      );
    }
    return status;
  } finally {
    clearTimeout(killer);
  }
}

/** Waits for a line of a process; on timeout the error carries the process's output. */
export async function expectLine(proc: Proc, re: RegExp, ms = 60_000): Promise<string> {
  try {
    return await proc.waitForLine(re, ms);
  } catch (e) {
    throw new Error(`${(e as Error).message}; output:\n${proc.output().slice(-4000)}`);
  }
}
