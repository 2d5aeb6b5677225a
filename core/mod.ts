/**
 * core: the point model, the store, adapter contracts, the hop runtime,
 * configuration, permissions and logging. It imports no adapter and no tunnel
 * code; adapters and the tunnel import only this module.
 */
export * from "./adapter.ts";
export * from "./backoff.ts";
export * from "./base64.ts";
export * from "./build.ts";
export * from "./cidr.ts";
export * from "./clock.ts";
export * from "./config/mod.ts";
export * from "./flags.ts";
export * from "./hop.ts";
export * from "./launch.ts";
export * from "./link_proxy.ts";
export * from "./log.ts";
export * from "./permissions.ts";
export * from "./plugin.ts";
export * from "./point.ts";
export * from "./point_json.ts";
export * from "./point_store.ts";
export * from "./sandbox.ts";
export * from "./spawn.ts";
export * from "./status.ts";
export * from "./write_policy.ts";
export * from "./demo.ts";
export * from "./disk_buffer.ts";
export * from "./certs.ts";
