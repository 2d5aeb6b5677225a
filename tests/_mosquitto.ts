/**
 * A mosquitto broker for tests: its own temp config, a CA and certificates
 * made at test time with core/certs.ts, a TLS listener that requires a client
 * certificate, a plain listener on 127.0.0.1 for observers, and optionally a
 * listener that requires a password. Always stop it in `finally`. The broker
 * itself is started by the generic launcher in tests/bench/_mosquitto.ts.
 */
import { join } from "node:path";
import { initCa, issueHopCert } from "../core/mod.ts";
import { flagsConfig, freePort } from "./_helpers.ts";
import { Mosquitto as Broker } from "./bench/_mosquitto.ts";

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
  /** The broker's own certificate and key (CN localhost), and its password file. */
  serverCert: string;
  serverKey: string;
  passwordFile: string;
}

/** Makes the certificates and password file of a broker in `dir`. */
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
  return {
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
    serverCert: server.cert,
    serverKey: server.key,
    passwordFile: passwd,
  };
}

/** A running mosquitto, started and stopped as often as a test needs. */
export class Mosquitto {
  readonly setup: BrokerSetup;
  #broker: Broker | null = null;

  constructor(setup: BrokerSetup) {
    this.setup = setup;
  }

  /** Starts the broker and waits until its listeners accept connections. */
  async start(): Promise<void> {
    const s = this.setup;
    this.#broker = await Broker.start({
      name: "test broker",
      dir: s.dir,
      port: s.plainPort,
      tls: {
        ca: s.ca,
        cert: s.serverCert,
        key: s.serverKey,
        port: s.tlsPort,
        identityAsUsername: true,
      },
      password: { file: s.passwordFile, port: s.authPort },
    });
  }

  /** The broker's process id (0 while stopped). */
  get pid(): number {
    return this.#broker?.pid ?? 0;
  }

  /** Stops the broker (safe to call when stopped). */
  async stop(): Promise<void> {
    const b = this.#broker;
    this.#broker = null;
    await b?.stop();
  }
}

/** A hop's flags and resolved configuration, for running it with exactly its permissions. */
export function hopConfig(dir: string, flags: string[]) {
  return flagsConfig(dir, flags);
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
