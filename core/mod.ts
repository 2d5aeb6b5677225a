/**
 * core: the point model, the store, configuration and the plugin contract,
 * the hop runtime, permissions and the sandbox check, the hop commands
 * (core/commands/) and logging. It imports no adapter and no tunnel code, and
 * names no adapter or library an adapter loads; adapters and the tunnel
 * import only this module.
 *
 * @example A point applied to a hop's store and read back
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { PointStore, Status, statusName } from "./mod.ts";
 *
 * const store = new PointStore("plant1");
 * store.apply({
 *   id: "plant1/plc1/Line2/Temperature",
 *   value: 21.5,
 *   type: "Double",
 *   status: Status.Good,
 *   time: Date.now(),
 *   hops: [],
 *   cause: null,
 * }, "plc1");
 *
 * const point = store.get("plant1/plc1/Line2/Temperature")!;
 * assertEquals(point.value, 21.5);
 * assertEquals(statusName(point.status), "Good");
 * assertEquals(point.hops, ["plant1"]); // the path so far, this hop last
 * assertEquals(point.origin, "plc1"); // the source that delivered it: its loss fails the point
 * ```
 *
 * @module
 */

// Model: points, their values and data types, OPC UA status codes, and points as JSON.
export {
  copyPoint,
  type DataType,
  elementType,
  type FailureCause,
  fitValue,
  isArrayType,
  isDataType,
  isOriginHop,
  originHop,
  type Point,
  sameValue,
  type Scalar,
  type ScalarType,
  scalarTypes,
  unfit,
  validTime,
  type Value,
  valueProblem,
} from "./point.ts";
export {
  isBad,
  isGood,
  isStatusCode,
  isUncertain,
  type Severity,
  severity,
  Status,
  statusByName,
  type StatusCode,
  type StatusName,
  statusName,
} from "./status.ts";
export { isoTime, jsonValue, type JsonValueOptions } from "./point_json.ts";

// Store: a hop's mirror of every point, the writes it lets through, and a sink's disk buffer.
export {
  type PointRoute,
  pointRoute,
  pointSlot,
  PointStore,
  type StoredPoint,
  type StoreListener,
  type StoreStats,
  type SubscribeOptions,
} from "./point_store.ts";
export { PointSet } from "./point_set.ts";
export { UnboxedState } from "./unboxed_state.ts";
export { PointQueue } from "./point_queue.ts";
export { globToRegExp, writePolicy } from "./write_policy.ts";
export {
  type BufferedRecord,
  DiskBuffer,
  type DiskBufferOptions,
  type SegmentRepair,
} from "./disk_buffer.ts";
export { type AtomicWriteOptions, writeFileAtomic } from "./atomic_file.ts";
export { YoungCollections } from "./young_collection.ts";

// Config and plugins: declared options, YAML and flag layers, validation, the plugin contract.
export {
  byteSize,
  type CheckContext,
  type CheckMessage,
  ConfigError,
  type ConfigLayer,
  type CustomIssue,
  duration,
  filePath,
  flag,
  formatHostPort,
  generalOptions,
  type HopConfig,
  hopName,
  hopNamePattern,
  type HostPort,
  hostPort,
  int,
  kebab,
  option,
  type OptionInfo,
  optionInfos,
  type OptionMeta,
  parseHostPort,
  readConfigFile,
  repeated,
  resolveConfig,
  type Schema,
  type SchemaBuilder,
  type SchemaIssue,
  type SchemaOutput,
  type SchemaProps,
  type SchemaResult,
  stringList,
  url,
} from "./config/mod.ts";
export { configFromOptions, type GivenConfig, givenConfig, toFlags } from "./config/flags.ts";
export {
  type OptionShape,
  type OptionValues,
  type PermissionNeeds,
  type Plugin,
  plugins,
  registerPlugins,
} from "./plugin.ts";

// Runtime: the adapter contract, the hop that runs adapters around its store, its TLS files
// (checked, reloaded when they change, their expiry as points) and its clock.
export {
  type Adapter,
  adapterContext,
  type AdapterStatus,
  type Connection,
  type HopContext,
  type HopServices,
  LazyAdapter,
  notStarted,
  type RunState,
  startLoadWaitMs,
  StatusTracker,
  type WriteRequest,
} from "./adapter.ts";
export { Hop } from "./hop.ts";
export {
  type CertFile,
  certificateInfos,
  type CertInfo,
  type CertSet,
  type CertSetSpec,
  loadCertSet,
} from "./cert_files.ts";
export {
  certExpiryPointId,
  CertWatch,
  type CertWatchOptions,
  expiryWarningDays,
  type HeldCertificate,
} from "./cert_watch.ts";
export { type Clock, ManualClock, systemClock, type TimerId } from "./clock.ts";

// Permissions and sandbox: what a configuration needs of Deno, and the check of what was granted.
export {
  derivePermissions,
  describePermissions,
  permissionFlags,
  type PermissionSet,
  withRealPaths,
} from "./permissions.ts";
export { checkSandbox, denoDefaultImportHosts, type SandboxReport } from "./sandbox.ts";

// Commands: hopgate build, certs and run, and a hop started as its own process.
export {
  type BuildOptions,
  compileArgs,
  denyFlags,
  hopV8Flags,
  hopV8FlagsFor,
  shellQuote,
} from "./commands/build.ts";
export {
  CertError,
  certificateNames,
  initCa,
  issueHopCert,
  renewHopCert,
} from "./commands/certs.ts";
export { exitSandboxRefused, launchHop } from "./commands/launch.ts";
export { hopEnvFor, hopRunArgs, mainModule } from "./commands/spawn.ts";

// Logging: the hop's log setup and loggers, and summarised refusals of unwanted peers.
export {
  type LogFormat,
  type Logger,
  logger,
  type LogLevelName,
  setupLogging,
  worthLogging,
} from "./log.ts";
export {
  type Refusal,
  RefusalLog,
  type RefusalLogOptions,
  type RefusalSink,
} from "./refusal_log.ts";

// Utilities: base64, retry backoff, CIDR ranges, sleeping and timeouts.
export { fromBase64, fromPem, toBase64, toPem } from "./base64.ts";
export { Backoff, type BackoffOptions } from "./backoff.ts";
export { addressBytes, type Cidr, inRanges, parseCidr } from "./cidr.ts";
export { sleep, withTimeout } from "./clock.ts";
