/**
 * `hopgate demo`: a whole chain on one machine (PLC → plant1 → dmz ← it →
 * MQTT), each part its own sandboxed process, with a live table of what each
 * hop and the broker hold.
 *
 * This folder is not a plugin: it adds no options, permissions or adapters to
 * a hop and is not registered in adapters/all.ts. It sits beside the adapters
 * because it runs them: its PLC (./demo_plc.ts, node-opcua) and broker
 * (./demo_broker.ts, aedes and the Sparkplug codec) are scripts of their own,
 * and each process's sandbox comes from core and from the plugins' exported
 * needs. main.ts imports the command from here; the tests take the loopback
 * proxy and free ports from here through tests/kit/.
 *
 * @example The `hopgate demo` flags, parsed and checked before any process starts
 * ```ts
 * import { deepStrictEqual as assertEquals, throws } from "node:assert";
 * import { ConfigError } from "../../core/mod.ts";
 * import { demoOptions } from "./mod.ts";
 *
 * assertEquals(
 *   demoOptions({ seconds: "30", cutAfter: "10", restoreAfter: "20", broker: "mqtt://localhost:1883" }),
 *   { seconds: 30, cutAfter: 10, restoreAfter: 20, broker: "mqtt://localhost:1883" },
 * );
 * assertEquals(demoOptions({}), {}); // the built-in broker, running until stopped
 * throws(
 *   () => demoOptions({ seconds: "soon", broker: "http://x" }),
 *   (e) =>
 *     e instanceof ConfigError && e.problems.length === 2 &&
 *     e.problems[0] === '--seconds "soon" is not a number of seconds',
 * );
 * ```
 *
 * @module
 */
export { type DemoOptions, demoOptions, runDemo } from "./demo.ts";
export { freePort, LinkProxy, type LinkState } from "./link_proxy.ts";
