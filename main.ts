/**
 * hopgate: one executable per network hop. This file parses the command line
 * and wires a hop together; the logic lives in core/, adapters/ and tunnel/.
 */
import meta from "./deno.json" with { type: "json" };
import { adapterFactories } from "./adapters/all.ts";
import {
  addHopOptions,
  Command,
  compileArgs,
  ConfigError,
  configFromOptions,
  type HopConfig,
  launchHop,
  mainModule,
  runDemo,
  shellQuote,
} from "./core/mod.ts";

/** Every adapter (and link) a configuration asks for. */
function makeAdapters(config: HopConfig) {
  return adapterFactories.flatMap((make) => make(config));
}

const program = new Command("hopgate")
  .description("Secure gateway for industrial data: OPC UA → TLS hop tunnel → MQTT")
  .version(meta.version, "-V, --version")
  .exitOverride()
  .showHelpAfterError("(run with --help for the list of flags)");

addHopOptions(
  program.command("run").description("Run a hop with the given configuration"),
).action(async (opts: Record<string, unknown>) => {
  const { config, given } = configFromOptions(opts);
  Deno.exitCode = await launchHop(config, makeAdapters, { configFile: given.configFile });
});

addHopOptions(
  program.command("build")
    .description("Compile one hop's binary with exactly the permissions its configuration needs")
    .requiredOption("-o, --output <file>", "Path of the binary to write")
    .option("--target <triple>", "Cross-compile for this target (deno compile --target)")
    .option("--dry-run", "Print the deno compile command instead of running it"),
).action(async (opts: Record<string, unknown>) => {
  const { output, target, dryRun, ...rest } = opts;
  const { config, given } = configFromOptions(rest);
  const args = compileArgs(config, given, {
    output: String(output),
    entry: mainModule,
    ...(typeof target === "string" ? { target } : {}),
  });
  if (dryRun) {
    console.log(["deno", ...args].map(shellQuote).join(" "));
    return;
  }
  console.error(`Compiling hop ${config.name} to ${output}…`);
  const { code } = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
  if (code !== 0) {
    console.error(
      `deno compile failed (exit ${code}); it downloads its runtime on first use, so check that this machine can reach Deno's download host or run --dry-run and compile elsewhere`,
    );
  }
  Deno.exitCode = code;
});

program.command("demo")
  .description("Start a simulated plant hop in its own sandboxed process and show its status")
  .option("--seconds <n>", "Stop after this many seconds")
  .action(async (opts: { seconds?: string }) => {
    Deno.exitCode = await runDemo(opts.seconds ? { seconds: Number(opts.seconds) } : {});
  });

try {
  await program.parseAsync(Deno.args, { from: "user" });
} catch (e) {
  if (e instanceof ConfigError) {
    for (const p of e.problems) console.error(`hopgate: ${p}`);
    Deno.exit(2);
  }
  const code = (e as { code?: string; exitCode?: number }).code;
  if (typeof code === "string" && code.startsWith("commander.")) {
    Deno.exit(code === "commander.helpDisplayed" || code === "commander.version" ? 0 : 2);
  }
  throw e;
}
