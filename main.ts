/**
 * hopgate: one executable per network hop. This file parses the command line
 * and wires a hop together; the logic lives in core/, adapters/ and tunnel/.
 */
import { dirname } from "node:path";
import meta from "./deno.json" with { type: "json" };
import { hopAdapters } from "./adapters/all.ts";
import { runWatch, watchCommandOptions } from "./tunnel/mod.ts";
import { issueOpcuaCertificates, usersAdd } from "./adapters/opcua/mod.ts";
import { addDiodeKey, DiodeKeyError } from "./adapters/diode/mod.ts";
import { demoOptions, runDemo } from "./adapters/demo/mod.ts";
import { addHopOptions, Command } from "./core/config/flags.ts";
import {
  CertError,
  compileArgs,
  ConfigError,
  configFromOptions,
  hopEnvFor,
  initCa,
  issueHopCert,
  launchHop,
  mainModule,
  renewHopCert,
  shellQuote,
} from "./core/mod.ts";

const program = new Command("hopgate")
  .description("Secure gateway for industrial data: OPC UA → TLS hop tunnel → MQTT")
  .version(meta.version, "-V, --version")
  .exitOverride()
  .showHelpAfterError("(run with --help for the list of flags)");

addHopOptions(
  program.command("run").description("Run a hop with the given configuration"),
).action(async (opts: Record<string, unknown>) => {
  const { config, given } = configFromOptions(opts);
  Deno.exitCode = await launchHop(config, hopAdapters, { configFile: given.configFile });
});

addHopOptions(
  program.command("build")
    .description("Compile one hop's binary with exactly the permissions its configuration needs")
    .requiredOption("-o, --output <file>", "Path of the binary to write")
    .option("--target <triple>", "Cross-compile for this target (deno compile --target)")
    .option("--dry-run", "Print the deno compile command instead of running it"),
).action(async (opts: Record<string, unknown>) => {
  const { output, target, dryRun, ...rest } = opts;
  const { config, given } = configFromOptions(rest, {
    onUnreadableFiles: (problems) => {
      for (const p of problems) {
        console.error(`note: ${p.split(";")[0]} here; it must exist where the hop runs`);
      }
    },
  });
  const args = compileArgs(config, given, {
    output: String(output),
    entry: mainModule,
    ...(typeof target === "string" ? { target } : {}),
  });
  // A compiled binary cannot set its own allocator's environment: whoever starts it must.
  const env = Object.entries(hopEnvFor(config)).map(([k, v]) => `${k}=${v}`).join(" ");
  const noteEnv = () => {
    if (env === "") return;
    console.error(
      `note: start ${output} with ${env} in its environment (systemd: one Environment= line each; see docs/deployment.md)`,
    );
  };
  if (dryRun) {
    console.log(["deno", ...args].map(shellQuote).join(" "));
    noteEnv();
    return;
  }
  console.error(`Compiling hop ${config.name} to ${output}…`);
  const { code } = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
  if (code !== 0) {
    console.error(
      `deno compile failed (exit ${code}); it downloads its runtime on first use, so check that this machine can reach Deno's download host or run --dry-run and compile elsewhere`,
    );
  } else noteEnv();
  Deno.exitCode = code;
});

const certs = program.command("certs").description(
  "Make the chain's CA and each hop's key and certificate (no openssl needed)",
);
certs.command("init")
  .description("Create the chain's private CA: ca.crt and ca.key (keep ca.key offline)")
  .option("--dir <dir>", "Where to write the CA", "hopgate-ca")
  .option("--days <n>", "Validity in days", "3650")
  .action(async (opts: { dir: string; days: string }) => {
    const { cert, key } = await initCa(opts.dir, { days: opts.days });
    console.log(`Wrote ${cert} and ${key} (key readable by its owner only)`);
  });
certs.command("issue <hop>")
  .description("Issue a hop's key and certificate, signed by the CA, with a copy of ca.crt")
  .option("--ca-dir <dir>", "Where the CA is", "hopgate-ca")
  .option(
    "--out <dir>",
    "Where to write them (default: the hop's default ./hopgate-data/<hop>/certs)",
  )
  .option("--days <n>", "Validity in days", "825")
  .action(async (hop: string, opts: { caDir: string; out?: string; days: string }) => {
    const outDir = opts.out ?? `hopgate-data/${hop}/certs`;
    const out = await issueHopCert(hop, { caDir: opts.caDir, outDir, days: opts.days });
    console.log(`Wrote ${out.cert}, ${out.key} and ${out.ca} for hop ${hop}`);
  });
certs.command("renew <hop>")
  .description(
    "Re-issue a hop's certificate from the CA, with a new key; a running hop reloads it without a restart",
  )
  .option("--ca-dir <dir>", "Where the CA is", "hopgate-ca")
  .option(
    "--out <dir>",
    "Where the hop's certificate is (default: the hop's default ./hopgate-data/<hop>/certs)",
  )
  .option("--days <n>", "Validity in days", "825")
  .option("--keep-key", "Keep the hop's key instead of making a new one")
  .action(
    async (hop: string, opts: { caDir: string; out?: string; days: string; keepKey?: boolean }) => {
      const outDir = opts.out ?? `hopgate-data/${hop}/certs`;
      const out = await renewHopCert(hop, {
        caDir: opts.caDir,
        outDir,
        days: opts.days,
        keepKey: opts.keepKey === true,
      });
      console.log(
        `Wrote ${out.cert}${
          opts.keepKey ? "" : ` and ${out.key}`
        } for hop ${hop}: serial ${out.serial}, valid until ${out.notAfter.toISOString()}`,
      );
    },
  );

certs.command("opcua <hop>")
  .description(
    "Issue a hop's OPC UA application certificates (server and client) from the CA, so that trusting the CA trusts every hop",
  )
  .option("--ca-dir <dir>", "Where the CA is", "hopgate-ca")
  .option("--data-dir <dir>", "The hop's data directory (default: ./hopgate-data/<hop>)")
  .option("--host <name>", "The host name of the machine the hop runs on (default: this one's)")
  .option("--address <host,...>", "The names and addresses its --opcua-server listens on")
  .option("--days <n>", "Validity in days", "825")
  .action(async (
    hop: string,
    opts: { caDir: string; dataDir?: string; host?: string; address?: string; days: string },
  ) => {
    const out = await issueOpcuaCertificates(hop, {
      caDir: opts.caDir,
      dataDir: opts.dataDir ?? `hopgate-data/${hop}`,
      ...(opts.host ? { hostname: opts.host } : {}),
      addresses: opts.address?.split(",").map((a) => a.trim()).filter((a) => a) ?? [],
      days: /^\s*\d+\s*$/.test(opts.days) ? Number(opts.days) : NaN,
    });
    console.log(
      `Wrote ${out.server} and ${out.client} for hop ${hop}; its server trusts OPC UA applications issued by the CA (${out.trustedCa})`,
    );
  });

certs.command("diode-key <hop>")
  .description(
    "Add a new pre-shared key for the data diode that <hop> sends into; copy the line to the receiving hop's key file",
  )
  .option("--out <file>", "The key file to add it to (default: ./hopgate-data/<hop>/diode.key)")
  .action(async (hop: string, opts: { out?: string }) => {
    const file = opts.out ?? `hopgate-data/${hop}/diode.key`;
    await Deno.mkdir(dirname(file), { recursive: true });
    const line = await addDiodeKey(hop, file);
    console.log(`Added a diode key of ${hop} to ${file} (readable by its owner only):`);
    console.log(line.trimEnd());
  });

program.command("watch <address>")
  .description("Pull a hop's data set and print each point change as a JSON line ([hop=]host:port)")
  .requiredOption(
    "--name <hop>",
    "This watcher's name, as in its certificate and the hop's --peers",
  )
  .option("--filter <pattern,...>", "Print only point ids matching these patterns (* and **)")
  .option("--listen", "Listen at the address and accept the named hop pushing to this watcher")
  .option(
    "--tls-cert <file>",
    "The watcher's certificate (default: <name>.crt in ./hopgate-data/<name>/certs)",
  )
  .option("--tls-key <file>", "The watcher's private key")
  .option("--tls-ca <file>", "The chain's CA certificate")
  .action(async (address: string, opts: Record<string, string | boolean | undefined>) => {
    Deno.exitCode = await runWatch(watchCommandOptions(address, opts));
  });
program.command("users").description("Manage the users of a hop's OPC UA server")
  .command("add <user>")
  .description("Add or replace a user (password read from stdin, or from --password-file)")
  .option("--data-dir <dir>", "The hop's data directory; writes <dir>/users.json")
  .option("--users <file>", "The users file to write instead")
  .option("--password-file <file>", "Read the password from this file instead of stdin")
  .action(
    async (user: string, opts: { dataDir?: string; users?: string; passwordFile?: string }) => {
      try {
        const path = await usersAdd(user, opts);
        console.log(`Added user ${user} to ${path}`);
      } catch (e) {
        console.error(`hopgate: ${(e as Error).message}`);
        Deno.exitCode = 2;
      }
    },
  );

program.command("demo")
  .description(
    "Run a whole chain on this machine (PLC, plant, dmz, it, MQTT broker) and show each hop's view",
  )
  .option("--seconds <n>", "Stop after this many seconds (counted from when the chain is up)")
  .option("--cut-after <n>", "Cut the plant→dmz link after this many seconds")
  .option("--restore-after <n>", "Restore the plant→dmz link after this many seconds")
  .option("--broker <url>", "Bridge to this MQTT broker instead of the built-in one (mqtt://…)")
  .action(async (opts: Record<string, string | undefined>) => {
    Deno.exitCode = await runDemo(demoOptions(opts));
  });

try {
  await program.parseAsync(Deno.args, { from: "user" });
} catch (e) {
  if (e instanceof ConfigError) {
    for (const p of e.problems) console.error(`hopgate: ${p}`);
    Deno.exit(2);
  }
  if (e instanceof CertError || e instanceof DiodeKeyError) {
    console.error(`hopgate: ${e.message}`);
    Deno.exit(2);
  }
  const code = (e as { code?: string; exitCode?: number }).code;
  if (typeof code === "string" && code.startsWith("commander.")) {
    Deno.exit(code === "commander.helpDisplayed" || code === "commander.version" ? 0 : 2);
  }
  throw e;
}
