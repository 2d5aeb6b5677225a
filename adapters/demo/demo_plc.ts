/**
 * The PLC of `hopgate demo`, run as its own process under narrow permissions
 * (its port, its PKI folder and what node-opcua servers need, see
 * `opcuaServerNeeds` in adapters/opcua/permissions.ts): a node-opcua server offering only
 * SignAndEncrypt (Basic256Sha256) with a small plant under `Plant/`:
 *
 * - `Tank1/Level`, `Tank2/Level` (Double, %): filling and draining;
 * - `Pump1/Running` (Boolean), `Pump1/Speed` (Double, rpm): the pump starts
 *   when Tank1 is low and stops when it is high;
 * - `Line1/Produced` (Int64): a counter that starts just below 2^53 and
 *   crosses it within seconds, so exact 64-bit integers show along the chain;
 * - `Line1/Rejected` (UInt32), `Line1/HighLevelAlarm` (Boolean, Tank1 ≥ 90 %).
 *
 * Options: `--port <n>`, `--pki <dir>`. Prints `PLC ready <endpoint>` once it listens.
 */
import { parseArgs } from "node:util";
import {
  DataType,
  MessageSecurityMode,
  nodesets,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  Variant,
} from "node-opcua";
import type { ScalarType, Value } from "../../core/mod.ts";
import { toVariant, uaDataType } from "../opcua/opcua_values.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string", default: "4840" }, pki: { type: "string" } },
});
if (!args.pki) throw new Error("Pass --pki <dir>: the PLC keeps its certificates there");

const serverCertificateManager = new OPCUACertificateManager({
  rootFolder: `${args.pki}/pki`,
  automaticallyAcceptUnknownCertificate: true,
  disableFileWatchers: true,
});
// Both managers live in --pki: node-opcua's defaults would write under the home folder.
const userCertificateManager = new OPCUACertificateManager({
  rootFolder: `${args.pki}/userpki`,
  automaticallyAcceptUnknownCertificate: true,
  disableFileWatchers: true,
});
await serverCertificateManager.initialize();
await userCertificateManager.initialize();

const server = new OPCUAServer({
  port: Number(args.port),
  host: "127.0.0.1",
  hostname: "127.0.0.1",
  resourcePath: "/plc",
  serverCertificateManager,
  userCertificateManager,
  securityModes: [MessageSecurityMode.SignAndEncrypt],
  securityPolicies: [SecurityPolicy.Basic256Sha256],
  allowAnonymous: true,
  nodesets: [nodesets.standard],
});
await server.initialize();

/** The plant's state, stepped every 200 ms. */
const plant = {
  tank1: 42,
  tank2: 70,
  running: true,
  speed: 1450,
  produced: 2n ** 53n - 20n,
  rejected: 0,
};
let tick = 0;
function step() {
  tick++;
  plant.tank1 += plant.running ? 1.3 : -0.9;
  if (plant.tank1 >= 95) plant.running = false;
  if (plant.tank1 <= 20) plant.running = true;
  plant.tank2 = 60 + 25 * Math.sin(tick / 25);
  plant.speed = plant.running ? 1450 + Math.round(30 * Math.sin(tick / 5)) : 0;
  plant.produced += 3n;
  if (tick % 17 === 0) plant.rejected++;
}

const addressSpace = server.engine.addressSpace!;
const ns = addressSpace.getOwnNamespace();
const root = ns.addFolder(addressSpace.rootFolder.objects, { browseName: "Plant" });
const folders = new Map<string, ReturnType<typeof ns.addFolder>>();
function variable(path: string, type: ScalarType, get: () => Value) {
  const [folder, name] = path.split("/") as [string, string];
  let parent = folders.get(folder);
  if (!parent) folders.set(folder, parent = ns.addFolder(root, { browseName: folder }));
  ns.addVariable({
    componentOf: parent,
    browseName: name,
    nodeId: `s=Plant/${path}`,
    dataType: DataType[uaDataType(type)],
    accessLevel: "CurrentRead",
    userAccessLevel: "CurrentRead",
    minimumSamplingInterval: 100,
    value: { get: () => new Variant(toVariant(type, get())) },
  });
}
const round = (x: number) => Math.round(x * 10) / 10;
variable("Tank1/Level", "Double", () => round(plant.tank1));
variable("Tank2/Level", "Double", () => round(plant.tank2));
variable("Pump1/Running", "Boolean", () => plant.running);
variable("Pump1/Speed", "Double", () => plant.speed);
variable("Line1/Produced", "Int64", () => plant.produced);
variable("Line1/Rejected", "UInt32", () => plant.rejected);
variable("Line1/HighLevelAlarm", "Boolean", () => plant.tank1 >= 90);

const ticker = setInterval(step, 200);
await server.start();
console.log(`PLC ready ${server.getEndpointUrl()}`);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  clearInterval(ticker);
  await server.shutdown(0);
  await serverCertificateManager.dispose();
  await userCertificateManager.dispose();
  Deno.exit(0);
}
Deno.addSignalListener("SIGTERM", shutdown);
Deno.addSignalListener("SIGINT", shutdown);
