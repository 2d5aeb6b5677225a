/**
 * Every adapter, imported statically so `deno compile` includes them all.
 * Heavy libraries stay behind dynamic imports inside the adapters.
 */
import type { Adapter, HopConfig } from "../core/mod.ts";
import { mqttAdapters } from "./mqtt/mod.ts";
import { opcuaAdapters } from "./opcua/mod.ts";
import { simAdapters } from "./sim/mod.ts";

/** Makes the adapters a configuration asks for. */
export type AdapterFactory = (config: HopConfig) => Adapter[];

/** Every adapter factory, in start order (sources before sinks). */
export const adapterFactories: AdapterFactory[] = [simAdapters, opcuaAdapters, mqttAdapters];
