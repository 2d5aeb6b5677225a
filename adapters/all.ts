/**
 * Every plugin of a hop, imported statically so `deno compile` includes them
 * all, and registered with core, which builds the flags, the YAML schema, the
 * README's flag tables and the permission set from this list. A new adapter
 * is one folder and one line here. Heavy libraries stay behind dynamic
 * imports inside the adapters.
 */
import { type Adapter, type HopConfig, type Plugin, registerPlugins } from "../core/mod.ts";
import { tunnelPlugin } from "../tunnel/mod.ts";
import { diodePlugin } from "./diode/mod.ts";
import { mqttPlugin } from "./mqtt/mod.ts";
import { opcuaPlugin } from "./opcua/mod.ts";
import { simPlugin } from "./sim/mod.ts";
import { statusPlugin } from "./status/mod.ts";

/**
 * Every plugin, in start order: sources, then sinks, then the tunnel (its
 * listener starts after the links), then the status endpoint, which reports on them all.
 */
export const hopPlugins: readonly Plugin[] = [
  simPlugin,
  opcuaPlugin,
  mqttPlugin,
  diodePlugin,
  tunnelPlugin,
  statusPlugin,
];

registerPlugins(hopPlugins);

/** Every adapter a configuration asks for, in start order. */
export function hopAdapters(config: HopConfig): Adapter[] {
  return hopPlugins.flatMap((p) => p.adapters(config));
}
