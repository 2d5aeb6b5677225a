/**
 * The broker side of `hopgate demo`, run as its own process: an in-process
 * MQTT broker (aedes) on a loopback port, or a subscriber of a real broker
 * (`--url`), that decodes every Sparkplug B message it sees and prints one
 * JSON line per metric, so the demo (./demo.ts, which reads only the output
 * of its processes) can show what the broker received.
 *
 * Options: `--port <n>` (serve on 127.0.0.1:<n>) or `--url <mqtt://host:port>`
 * (subscribe to spBv1.0/# there). Prints `broker ready` once it serves or is subscribed.
 * Lines: `{"id","type","value","quality","status","cause"}` per metric (point id
 * rebuilt from device and metric name), `{"death":"<node or device>"}` on NDEATH/DDEATH.
 */
import { parseArgs } from "node:util";
import * as net from "node:net";
import { decodePayload, hopgateType, metricValue } from "../mqtt/sparkplug_codec.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string" }, url: { type: "string" } },
});

/** Alias → metric name (and datatype), per node/device topic, learnt from births. */
const births = new Map<string, Map<bigint, { name: string; datatype: number | undefined }>>();

function json(v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return v.map(json);
  return v;
}

function onMessage(topic: string, payload: Uint8Array): void {
  // spBv1.0/<group>/<type>/<node>[/<device>]
  const parts = topic.split("/");
  if (parts[0] !== "spBv1.0" || parts.length < 4 || parts[1] === "STATE") return;
  const [, , type, node, device] = parts;
  const key = `${node}/${device ?? ""}`;
  if (type === "NDEATH" || type === "DDEATH") {
    console.log(JSON.stringify({ death: device ? device.replace(":", "/") : node }));
    return;
  }
  if (!type?.endsWith("BIRTH") && !type?.endsWith("DATA")) return;
  let decoded;
  try {
    decoded = decodePayload(payload);
  } catch {
    return;
  }
  let names = births.get(key);
  // A birth starts the alias table afresh (aliases may change on a rebirth).
  if (!names || type.endsWith("BIRTH")) births.set(key, names = new Map());
  for (const m of decoded.metrics) {
    if (m.alias !== undefined && m.name !== undefined) {
      names.set(m.alias, { name: m.name, datatype: m.datatype });
    }
    const known = m.alias !== undefined ? names.get(m.alias) : undefined;
    const name = m.name ?? known?.name;
    const datatype = m.datatype ?? known?.datatype;
    if (name === undefined || datatype === undefined) continue;
    let value: unknown;
    try {
      value = json(metricValue({ ...m, datatype }, hopgateType(datatype)));
    } catch {
      continue;
    }
    const id = device ? `${device.replace(":", "/")}/${name}` : `${node}/${name}`;
    console.log(JSON.stringify({
      id,
      type,
      value,
      quality: m.properties["Quality"] ?? 192,
      cause: m.properties["Cause"] ?? null,
    }));
  }
}

if (args.url) {
  const { default: mqtt } = await import("mqtt");
  const client = await mqtt.connectAsync(args.url, { reconnectPeriod: 1000 });
  client.on("message", (topic, payload) => onMessage(topic, new Uint8Array(payload)));
  await client.subscribeAsync("spBv1.0/#", { qos: 0 });
  console.log(`broker ready: subscribed to spBv1.0/# at ${args.url}`);
  const stop = () => void client.endAsync(true).then(() => Deno.exit(0));
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
} else {
  const { Aedes } = await import("aedes");
  const broker = await Aedes.createBroker();
  broker.on("publish", (packet, client) => {
    if (client) onMessage(packet.topic, new Uint8Array(packet.payload as Uint8Array));
  });
  const server = net.createServer(broker.handle);
  const port = Number(args.port ?? 1883);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  console.log(`broker ready: aedes on mqtt://127.0.0.1:${port}`);
  const stop = () => {
    server.close();
    broker.close(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
