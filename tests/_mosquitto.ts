/**
 * A mosquitto broker for tests: its own temp config, a CA and certificates
 * made at test time with core/certs.ts, a TLS listener that requires a client
 * certificate, a plain listener on 127.0.0.1 for observers, and optionally a
 * listener that requires a password. Always stop it in `finally`.
 */
import { join } from "node:path";
import { initCa, issueHopCert, resolveConfig } from "../core/mod.ts";
import { freePort, waitFor } from "./_helpers.ts";

/** Files and ports of a test broker. */
export interface BrokerSetup {
  dir: string;
  tlsPort: number;
  plainPort: number;
  /** Listener that requires user `hopgate` with password `secret`. */
  authPort: number;
  ca: string;
  /** A client certificate the broker trusts (CN hop). */
  clientCert: string;
  clientKey: string;
  /** A CA the broker does not know, with a client certificate from it. */
  otherCa: string;
  otherCert: string;
  otherKey: string;
}

/** Makes the certificates, password file and config of a broker in `dir`. */
export async function setupBroker(dir: string): Promise<BrokerSetup> {
  const caDir = join(dir, "ca");
  const otherDir = join(dir, "other-ca");
  await initCa(caDir);
  await initCa(otherDir);
  // The broker's name is the loopback address, so clients can dial 127.0.0.1 and check it.
  const server = await issueHopCert("localhost", { caDir, outDir: join(dir, "server") });
  const client = await issueHopCert("hop", { caDir, outDir: join(dir, "client") });
  const other = await issueHopCert("hop", { caDir: otherDir, outDir: join(dir, "other") });
  const passwd = join(dir, "passwd");
  const out = await new Deno.Command("mosquitto_passwd", {
    args: ["-b", "-c", passwd, "hopgate", "secret"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  const setup: BrokerSetup = {
    dir,
    tlsPort: freePort(),
    plainPort: freePort(),
    authPort: freePort(),
    ca: server.ca,
    clientCert: client.cert,
    clientKey: client.key,
    otherCa: join(otherDir, "ca.crt"),
    otherCert: other.cert,
    otherKey: other.key,
  };
  await Deno.writeTextFile(
    join(dir, "mosquitto.conf"),
    [
      "user root",
      "set_tcp_nodelay true",
      "per_listener_settings true",
      "persistence false",
      "log_dest stderr",
      "log_type error",
      "log_type warning",
      `listener ${setup.tlsPort} 127.0.0.1`,
      "allow_anonymous true",
      "require_certificate true",
      "use_identity_as_username true",
      `cafile ${server.ca}`,
      `certfile ${server.cert}`,
      `keyfile ${server.key}`,
      `listener ${setup.plainPort} 127.0.0.1`,
      "allow_anonymous true",
      `listener ${setup.authPort} 127.0.0.1`,
      "allow_anonymous false",
      `password_file ${passwd}`,
      "",
    ].join("\n"),
  );
  return setup;
}

/** A running mosquitto. */
export class Mosquitto {
  readonly setup: BrokerSetup;
  #child: Deno.ChildProcess | null = null;

  constructor(setup: BrokerSetup) {
    this.setup = setup;
  }

  /** Starts the broker and waits until its listeners accept connections. */
  async start(): Promise<void> {
    this.#child = new Deno.Command("/usr/sbin/mosquitto", {
      args: ["-c", join(this.setup.dir, "mosquitto.conf")],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const child = this.#child;
    let exited: Deno.CommandStatus | null = null;
    const stderr = new Response(child.stderr).text();
    child.status.then((s) => exited = s);
    for (const port of [this.setup.tlsPort, this.setup.plainPort, this.setup.authPort]) {
      await waitFor(`mosquitto listening on ${port}`, async () => {
        if (exited) {
          throw new Error(`mosquitto exited with ${exited.code}: ${await stderr}`);
        }
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          return true;
        } catch {
          return false;
        }
      }, 15_000);
    }
  }

  /** Stops the broker (safe to call when stopped). */
  async stop(): Promise<void> {
    const c = this.#child;
    this.#child = null;
    if (!c) return;
    try {
      c.kill("SIGTERM");
    } catch { /* already gone */ }
    await c.status;
  }
}

/** A hop's flags and resolved configuration, for running it with exactly its permissions. */
export function hopConfig(dir: string, flags: string[]) {
  const values: Record<string, unknown> = {};
  for (let i = 0; i < flags.length; i++) {
    const key = flags[i]!.slice(2);
    const next = flags[i + 1];
    if (next === undefined || next.startsWith("--")) values[key] = true;
    else {
      values[key] = next;
      i++;
    }
  }
  return { flags, config: resolveConfig([{ label: null, baseDir: dir, values }]) };
}

/** Flags of a simulated hop publishing to the test broker over TLS with its client certificate. */
export function tlsHopFlags(setup: BrokerSetup, dataDir: string, extra: string[] = []): string[] {
  return [
    "--name",
    "plant1",
    "--data-dir",
    dataDir,
    "--status-interval",
    "300ms",
    "--mqtt",
    `mqtts://localhost:${setup.tlsPort}`,
    "--mqtt-ca",
    setup.ca,
    "--mqtt-cert",
    setup.clientCert,
    "--mqtt-key",
    setup.clientKey,
    ...extra,
  ];
}
