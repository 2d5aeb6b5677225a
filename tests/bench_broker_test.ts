/** The mosquitto helper of the broker-chain baseline starts bridged brokers that carry messages. */
import { ok as assert } from "node:assert";
import mqtt from "mqtt";
import { tempDir, waitFor } from "./kit/helpers.ts";
import { BrokerChain } from "./kit/mosquitto.ts";

async function crossesChain(tls: boolean): Promise<void> {
  await using dir = await tempDir("hopgate-bench-test-");
  await using chain = await BrokerChain.start({
    dir: dir.path,
    tls,
    qos: 1,
    topics: ["plant1/#"],
    brokers: 2,
  });
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${chain.last.port}`, {
    reconnectPeriod: 0,
  });
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${chain.plant.port}`, {
    reconnectPeriod: 0,
  });
  try {
    const got: string[] = [];
    sub.on("message", (topic, payload) => got.push(`${topic}=${payload}`));
    await sub.subscribeAsync("plant1/#", { qos: 1 });
    // The bridge connects in the background: publish until one message has crossed it.
    const seen = await waitFor("a message to cross the bridge", async () => {
      await pub.publishAsync("plant1/sim/0", "42", { qos: 1 });
      return got.find((m) => m === "plant1/sim/0=42");
    }, 8_000);
    assert(seen, chain.brokers.map((b) => b.log()).join("\n"));
  } finally {
    await Promise.all([pub.endAsync(true), sub.endAsync(true)]);
  }
}

Deno.test("a plant broker bridged out to a dmz broker over TCP delivers a message there", () =>
  crossesChain(false));

Deno.test("a plant broker bridged out to a dmz broker over mutual TLS delivers a message there", () =>
  crossesChain(true));
