/**
 * What the OPC UA trust work costs: making and checking the hop's
 * application certificate at start, and a certificate check with and
 * without the trust-folder change test (one `stat` per trust folder, once
 * per secure channel a client opens). Prints one line per round.
 *
 *   deno run -A tests/bench/opcua_trust.ts [--rounds 3] [--checks 500]
 */
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import { readCertificate } from "node-opcua-crypto";
import { ensureApplicationCertificate } from "../../adapters/opcua/opcua_certificate.ts";
import { applicationNames } from "../../adapters/opcua/opcua_names.ts";
import { reloadOnChange } from "../../adapters/opcua/opcua_trust.ts";
import { scriptFlags } from "./_args.ts";

const args = scriptFlags({
  rounds: { type: "string", default: "3" },
  checks: { type: "string", default: "500" },
});
const log = { info() {}, warn() {} };
type Check = { checkCertificate(c: unknown): Promise<unknown> };

for (let round = 0; round < Number(args.rounds); round++) {
  const dir = await Deno.makeTempDir({ prefix: "hopgate-opcua-trust-bench-" });
  const cm = new OPCUACertificateManager({
    rootFolder: dir,
    automaticallyAcceptUnknownCertificate: false,
    disableFileWatchers: true,
  });
  try {
    await cm.initialize();
    const file = `${dir}/own/certs/certificate.pem`;
    const names = applicationNames("it", { listen: { host: "127.0.0.1", port: 4840 } });
    let t = performance.now();
    await ensureApplicationCertificate(cm, file, { names, log, role: "server" });
    const made = performance.now() - t;
    t = performance.now();
    await ensureApplicationCertificate(cm, file, { names, log, role: "server" });
    const kept = performance.now() - t;
    const cert = readCertificate(file);
    await Deno.copyFile(file, `${dir}/trusted/certs/self.pem`);
    await cm.reloadCertificates();
    const n = Number(args.checks);
    const perCheck = async () => {
      const start = performance.now();
      for (let i = 0; i < n; i++) await (cm as unknown as Check).checkCertificate(cert);
      return (performance.now() - start) / n * 1000;
    };
    const plain = await perCheck();
    await reloadOnChange(cm, dir);
    const watched = await perCheck();
    console.log(
      `round ${round}: certificate made in ${made.toFixed(0)} ms, kept in ${
        kept.toFixed(1)
      } ms; checkCertificate ${plain.toFixed(0)} µs plain, ${
        watched.toFixed(0)
      } µs with the trust-folder test`,
    );
  } finally {
    await cm.dispose();
    await Deno.remove(dir, { recursive: true });
  }
}
