/**
 * The tunnel as a plugin of the hop: its options, the rules between them, the
 * certificate files and addresses its configuration needs, and its adapters
 * (one per dialled link, one per accepted peer, then the listener).
 */
import { join } from "node:path";
import {
  type Adapter,
  CertWatch,
  formatHostPort,
  type HopConfig,
  type Plugin,
} from "../core/mod.ts";
import { LinkAdapter, type LinkSettings } from "./link_adapter.ts";
import { ListenerAdapter } from "./listener.ts";
import { tunnelOptions } from "./options.ts";
import { OriginOwners } from "./origin_owners.ts";
import { tlsCertSpec } from "./tls.ts";

/** True when the hop takes part in the tunnel. */
export function usesTunnel(c: HopConfig): boolean {
  return c.listen !== undefined || c.push.length > 0 || c.pull.length > 0;
}

/** The link settings a configuration gives; `owners` is shared by every link of the hop. */
export function linkSettings(config: HopConfig, owners = new OriginOwners()): LinkSettings {
  return {
    heartbeat: config.heartbeat,
    linkTimeout: config.linkTimeout,
    maxFrame: config.maxFrame,
    writeTimeout: config.writeTimeout,
    limits: {
      maxPoints: config.maxPoints,
      maxLinkPoints: config.maxLinkPoints,
      maxId: config.maxId,
      maxHops: config.maxHops,
      maxValue: config.maxValue,
    },
    owners,
  };
}

/**
 * The hop's certificate, key and CA (`certs:tls`), reloaded when they change
 * or on SIGHUP, for every link the hop dials or accepts.
 */
export function tunnelCerts(config: HopConfig): CertWatch {
  return new CertWatch("tls", tlsCertSpec(config), {
    interval: config.certCheck,
    hints: {
      cert:
        `renew it with: hopgate certs renew ${config.name} (the hop reloads it without a restart)`,
      ca:
        "make a new CA and give every hop a bundle of the old and the new one before re-issuing their certificates (docs/operations.md)",
    },
  });
}

/**
 * The tunnel adapters a configuration asks for: the hop's certificates, one
 * per dialled link, one per peer the listener accepts, then the listener
 * itself (started last, stopped first).
 */
export function tunnelAdapters(config: HopConfig): Adapter[] {
  if (!usesTunnel(config)) return [];
  const certs = tunnelCerts(config);
  const settings = { ...linkSettings(config), certs };
  const out: Adapter[] = [certs];
  const dialled = new Set<string>();
  for (const [direction, targets] of [["push", config.push], ["pull", config.pull]] as const) {
    for (const t of targets) {
      if (dialled.has(t.peer)) {
        throw new Error(`Hop "${t.peer}" is dialled twice; give one --push or --pull per peer`);
      }
      dialled.add(t.peer);
      out.push(
        new LinkAdapter(t.peer, { kind: "dial", direction, addresses: t.addresses }, settings),
      );
    }
  }
  if (config.listen) {
    const accepted = new Map<string, LinkAdapter>();
    for (const spec of config.peers) {
      // A peer this hop dials already has its adapter (and origin); it cannot also dial in.
      if (dialled.has(spec.name) || accepted.has(spec.name)) continue;
      const a = new LinkAdapter(spec.name, { kind: "accept", spec }, settings);
      accepted.set(spec.name, a);
      out.push(a);
    }
    out.push(
      new ListenerAdapter(config.listen, accepted, {
        maxLinks: config.maxLinks,
        handshakeTimeout: config.handshakeTimeout,
        allowFrom: config.allowFrom,
        maxUnauthenticated: config.maxUnauthenticated,
        maxUnauthenticatedPerAddress: config.maxUnauthenticatedPerAddress,
        certs,
      }),
    );
  }
  return out;
}

/** The rules between the tunnel's options. */
function tunnelChecks(c: HopConfig): string[] {
  const out: string[] = [];
  if (c.listen && c.peers.length === 0) {
    out.push(
      "--listen is set but --peers is empty: name the hops allowed to connect with their roles, for example --peers plant1:push,it:pull",
    );
  }
  const peerNames = c.peers.map((p) => p.name);
  for (const [i, p] of c.peers.entries()) {
    if (p.name === c.name) out.push(`--peers lists this hop's own name "${p.name}"; remove it`);
    if (peerNames.indexOf(p.name) !== i) {
      out.push(`--peers lists "${p.name}" twice; give each peer once, with one role`);
    }
    for (const r of p.relays) {
      if (r === c.name || r === p.name) {
        out.push(
          `--peers "${p.name}" relays "${r}", which is ${
            r === c.name ? "this hop" : "the peer itself"
          }; remove it`,
        );
      }
    }
  }
  const reserve = c.maxId + c.maxHops * 64 + 4096;
  if (c.maxValue + reserve > c.maxFrame) {
    out.push(
      `--max-value (${c.maxValue} bytes) leaves no room in --max-frame (${c.maxFrame} bytes) for a point's id, path and cause: lower --max-value to at most ${
        Math.max(0, c.maxFrame - reserve)
      } or raise --max-frame`,
    );
  }
  for (const [flag, links] of [["--push", c.push], ["--pull", c.pull]] as const) {
    for (const l of links) {
      if (l.peer === c.name) out.push(`${flag} "${l.peer}" names this hop itself; name the peer`);
    }
  }
  const dialled = [...c.push, ...c.pull].map((l) => l.peer);
  for (const [i, peer] of dialled.entries()) {
    if (dialled.indexOf(peer) !== i) {
      out.push(
        `Hop "${peer}" is dialled twice (--push/--pull); two hops share one link: give one --push or --pull with all its addresses`,
      );
    }
    if (peerNames.includes(peer)) {
      out.push(
        `Hop "${peer}" is both dialled and accepted (--peers); two hops share one link: remove it from one side`,
      );
    }
  }
  if (c.linkTimeout <= c.heartbeat) {
    out.push(
      `--link-timeout (${c.linkTimeout} ms) must be longer than --heartbeat (${c.heartbeat} ms)`,
    );
  }
  // Smaller bounds would refuse every peer: no handshake fits in no time, and every string or
  // byte string value, however short, would travel as Bad.
  if (c.handshakeTimeout < 100) {
    out.push(
      `--handshake-timeout ${c.handshakeTimeout} ms leaves no time for a TLS handshake: give at least 100ms (default 3s)`,
    );
  }
  if (c.maxValue < 1024) {
    out.push(`--max-value ${c.maxValue} bytes is too small for any text value: give at least 1KB`);
  }
  return out;
}

/** The tunnel plugin (adapters/all.ts registers it). */
export const tunnelPlugin: Plugin = {
  name: "tunnel",
  options: tunnelOptions,
  activatedBy: "--push, --pull or --listen",
  active: usesTunnel,
  defaults(c) {
    const certs = join(c.dataDir, "certs");
    c.tlsCert ??= join(certs, `${c.name}.crt`);
    c.tlsKey ??= join(certs, `${c.name}.key`);
    c.tlsCa ??= join(certs, "ca.crt");
  },
  checks: tunnelChecks,
  files(c) {
    if (!usesTunnel(c)) return [];
    const hint = `or create it with: hopgate certs issue ${c.name}`;
    return [["tlsCert", hint], ["tlsKey", hint], ["tlsCa", "or copy the chain's CA there"]];
  },
  permissions(c) {
    if (!usesTunnel(c)) return {};
    const net = [
      ...(c.listen ? [formatHostPort(c.listen)] : []),
      ...[...c.push, ...c.pull].flatMap((l) => l.addresses.map(formatHostPort)),
    ];
    return { net, read: [c.tlsCert, c.tlsKey, c.tlsCa] };
  },
  adapters: tunnelAdapters,
};
