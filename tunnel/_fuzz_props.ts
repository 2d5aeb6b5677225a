/**
 * Property-based fuzzing of what a peer controls: the frame decoder
 * (frames.ts, control_frames.ts, data_frame_reader.ts) and the store's apply
 * path through a receiving link (link.ts). One definition of every property, run briefly by `deno task
 * test` (frame_codec_fuzz_test.ts, link_fuzz_test.ts) and at length by
 * tests/fuzz/run.ts, so both always try the same inputs. fast-check prints
 * the seed and path of a failure; HOPGATE_FUZZ_SEED and HOPGATE_FUZZ_PATH
 * replay it, HOPGATE_FUZZ_RUNS sets the run count, HOPGATE_FUZZ_STRICT makes
 * the {@link knownBugs} fail too.
 */
import fc from "fast-check";
import {
  type DataType,
  elementType,
  type FailureCause,
  hopNamePattern,
  isArrayType,
  isDataType,
  isStatusCode,
  logger,
  ManualClock,
  originHop,
  PointStore,
  sameValue,
  type Scalar,
  type ScalarType,
  scalarTypes,
  Status,
  type StatusCode,
  type StoredPoint,
  validTime,
  type Value,
  valueProblem,
} from "../core/mod.ts";
import {
  FrameReader,
  FrameType,
  headerSize,
  ProtocolError,
  protocolVersion,
  RuleError,
} from "./frames.ts";
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  helloFrame,
  originCompleteFrame,
  simpleFrame,
  writeFrame,
  writeResultFrame,
} from "./control_frames.ts";
import { DataFrameWriter } from "./data_frame_writer.ts";
import {
  DataReader,
  type DataVisitor,
  readDataFrame,
  type ReadLimits,
  tooLarge,
} from "./data_frame_reader.ts";
import { Link, type LinkLimits, type Wire } from "./link.ts";
import { OriginOwners } from "./origin_owners.ts";

// ---------------------------------------------------------------------------
// Running: one entry per property, shared by the tests and the long run.
// ---------------------------------------------------------------------------

/** The fast-check version in use, for the long run's log. */
export const fastCheckVersion: string = fc.__version;

/** How one run of a property is asked for. */
export interface FuzzParams {
  numRuns: number;
  /** Replays a seed (and with `path`, one counterexample) instead of a random one. */
  seed?: number;
  path?: string;
  /** Fails on the {@link knownBugs} too (`true`: all; a list: those), instead of tolerating them. */
  strict: Strictness;
}

/** Which {@link knownBugs} fail a property: none (false), all (true), or the ones listed. */
export type Strictness = boolean | readonly KnownBug[];

/** One of the {@link knownBugs}. */
export type KnownBug = keyof typeof knownBugs;

/** Whether a property lets a known bug pass. */
type Tolerates = (bug: KnownBug) => boolean;

function tolerance(strict: Strictness): Tolerates {
  if (strict === true) return () => false;
  if (strict === false) return () => true;
  return (bug) => !strict.includes(bug);
}

/** What a run of a property found. */
export interface FuzzOutcome {
  failed: boolean;
  seed: number;
  /** fast-check's path to the shrunk counterexample (`null` when it passed). */
  path: string | null;
  numRuns: number;
  /** fast-check's report (seed, path, counterexample, error) when it failed. */
  report: string;
}

/** A property as the tests and tests/fuzz/run.ts see it. */
export interface FuzzProperty {
  name: string;
  /** The test file that runs it briefly. */
  group: "codec" | "link";
  /** Runs in `deno task test`: a few seconds for all properties together on 2 cores. */
  testRuns: number;
  check(params: FuzzParams): FuzzOutcome;
}

function entry<Ts>(
  name: string,
  group: FuzzProperty["group"],
  testRuns: number,
  make: (tolerates: Tolerates) => fc.IProperty<Ts>,
): FuzzProperty {
  return {
    name,
    group,
    testRuns,
    check(p) {
      const params: fc.Parameters<Ts> = {
        numRuns: p.numRuns,
        ...(p.seed !== undefined ? { seed: p.seed } : {}),
        ...(p.path !== undefined ? { path: p.path } : {}),
      };
      const d = fc.check(make(tolerance(p.strict)), params);
      return {
        failed: d.failed,
        seed: d.seed,
        path: d.counterexamplePath,
        numRuns: d.numRuns,
        report: d.failed ? failureReport(d) : "",
      };
    },
  };
}

/** fast-check's report, followed by the error the shrunk counterexample raised. */
function failureReport<Ts>(d: fc.RunDetails<Ts>): string {
  const report = fc.defaultReportMessage(d) ?? "failed";
  const e = d.failed && "errorInstance" in d ? d.errorInstance : undefined;
  if (e === undefined || e === null) return report;
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return report.includes(message) ? report : `${report}\nError: ${message}`;
}

/** Settings read from the environment, so a failure seen anywhere can be replayed. */
export interface FuzzEnv {
  seed?: number;
  path?: string;
  runs?: number;
  strict: Strictness;
}

function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // No env permission: not replaying.
  }
}

/**
 * Reads a strictness setting: `1` or `all`, every known bug fails; a
 * comma-separated list of {@link knownBugs} names, those; unset, none.
 */
export function parseStrictness(text: string | undefined): Strictness {
  if (text === undefined || text === "" || text === "0") return false;
  if (text === "1" || text === "all") return true;
  const names = text.split(",").map((n) => n.trim());
  const unknown = names.filter((n) => !(n in knownBugs));
  if (unknown.length > 0) {
    throw new Error(
      `Unknown bug names ${unknown.join(", ")}: use ${Object.keys(knownBugs).join(", ")}`,
    );
  }
  return names as KnownBug[];
}

/**
 * The replay settings: HOPGATE_FUZZ_SEED, HOPGATE_FUZZ_PATH, HOPGATE_FUZZ_RUNS
 * and HOPGATE_FUZZ_STRICT (see {@link parseStrictness}).
 */
export function fuzzEnv(): FuzzEnv {
  const seed = envVar("HOPGATE_FUZZ_SEED");
  const path = envVar("HOPGATE_FUZZ_PATH");
  const runs = envVar("HOPGATE_FUZZ_RUNS");
  return {
    ...(seed !== undefined ? { seed: Number(seed) | 0 } : {}),
    ...(path !== undefined ? { path } : {}),
    ...(runs !== undefined ? { runs: Math.max(1, Number(runs) | 0) } : {}),
    strict: parseStrictness(envVar("HOPGATE_FUZZ_STRICT")),
  };
}

/**
 * Runs a property for a test: its bounded run count (or HOPGATE_FUZZ_RUNS),
 * throwing fast-check's report, with the seed, path and a replay command, on
 * failure.
 */
export function assertFuzz(p: FuzzProperty, testFile: string, env: FuzzEnv = fuzzEnv()): void {
  const o = p.check({
    numRuns: env.runs ?? p.testRuns,
    strict: env.strict,
    ...(env.seed !== undefined ? { seed: env.seed } : {}),
    ...(env.path !== undefined ? { path: env.path } : {}),
  });
  if (!o.failed) return;
  const strict = env.strict === false ? "" : env.strict === true ? "all" : env.strict.join(",");
  throw new Error(
    `Fuzz property "${p.name}" failed: seed ${o.seed}, path ${o.path}\n` +
      `Replay: HOPGATE_FUZZ_SEED=${o.seed} HOPGATE_FUZZ_PATH=${o.path}` +
      `${strict ? ` HOPGATE_FUZZ_STRICT=${strict}` : ""} ` +
      `deno test --allow-all ${testFile} --filter "${p.name}"\n` +
      `   or: deno run -A tests/fuzz/run.ts --only "${p.name}" --seed ${o.seed} --path ${o.path}` +
      `${strict ? ` --strict=${strict}` : ""}\n${o.report}`,
  );
}

/**
 * Bugs these properties found in the decoder and the link, not fixed here.
 * The properties tolerate exactly these failures unless run strict
 * (HOPGATE_FUZZ_STRICT=1 or a list of names; `run.ts --strict[=names]`), so
 * the bounded runs guard everything else meanwhile; each has an ignored
 * regression test with its minimal counterexample. Once a bug is fixed,
 * remove its entry and its tolerance, and un-ignore its test.
 */
export const knownBugs = {} as const;

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/** A broken invariant (as opposed to an error the code under test threw). */
class FuzzFailure extends Error {
  override name = "FuzzFailure";
}

function check(ok: boolean, message: () => string): asserts ok {
  if (!ok) throw new FuzzFailure(message());
}

const encoder = new TextEncoder();

function utf8Length(s: string): number {
  return encoder.encode(s).length;
}

function varuint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Hex of `bytes` (the first 4 KiB), for counterexamples. */
function hex(bytes: Uint8Array, max = 4096): string {
  const h = Array.from(bytes.subarray(0, max), (b) => b.toString(16).padStart(2, "0")).join("");
  return bytes.length > max ? `${h}… (${bytes.length} bytes)` : h;
}

/** Cuts `bytes` into chunks of the given sizes (the rest in one more chunk), as copies. */
function cut(bytes: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const n of sizes) {
    if (at >= bytes.length) break;
    out.push(bytes.slice(at, at + n));
    at += n;
  }
  if (at < bytes.length) out.push(bytes.slice(at));
  return out;
}

const chunkSizes = fc.array(
  fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 600 })),
  { maxLength: 24 },
);

function frameOf(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(headerSize + body.length);
  new DataView(out.buffer).setUint32(0, body.length + 1);
  out[4] = type;
  out.set(body, headerSize);
  return out;
}

/**
 * Values equal as the protocol promises: sameValue, plus kinds kept, and
 * -0 kept unless `signOfZero` is false (MessagePack sends -0 as the integer 0).
 */
function sameExactly(a: Value | Scalar, b: Value | Scalar, signOfZero = true): boolean {
  if (typeof a === "number" || typeof b === "number") {
    return signOfZero ? Object.is(a, b) : a === b || (Number.isNaN(a) && Number.isNaN(b));
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => sameExactly(x, b[i]!, signOfZero));
  }
  if (typeof a !== typeof b) return false;
  if ((a instanceof Date) !== (b instanceof Date)) return false;
  if ((a instanceof Uint8Array) !== (b instanceof Uint8Array)) return false;
  return sameValue(a as Value, b as Value);
}

function sameCause(a: FailureCause | null, b: FailureCause | null): boolean {
  if (a === null || b === null) return a === b;
  return a.hop === b.hop && a.via === b.via && a.reason === b.reason && Object.is(a.since, b.since);
}

/** An error as one line: name and message, no stack. */
function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : show(e);
}

function show(v: unknown): string {
  try {
    return Deno.inspect(v, { depth: 4, strAbbreviateSize: 80, iterableLimit: 20 });
  } catch {
    return String(v);
  }
}

// ---------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------

/** Every data type, scalar and array. */
const dataTypes: DataType[] = scalarTypes.flatMap((t) => [t, `${t}[]` as DataType]);
const arbType = fc.constantFrom(...dataTypes);

/**
 * Text of any code points (no lone surrogates: UTF-8 cannot carry them),
 * now and then after a U+FEFF, which a careless UTF-8 decoder drops.
 */
const text = (maxLength: number) =>
  fc.oneof(
    { weight: 15, arbitrary: fc.string({ unit: "binary", maxLength }) },
    fc.string({ unit: "binary", maxLength: Math.max(0, maxLength - 1) }).map((s) => `\uFEFF${s}`),
  );
const ascii = (minLength: number, maxLength: number) =>
  fc.string({ unit: "binary-ascii", minLength, maxLength });
/** Long text: a short start of any code points, then ASCII. */
const long = (minLength: number, maxLength: number) =>
  fc.tuple(text(3), ascii(minLength, maxLength)).map(([a, b]) => a + b);

const maxFloat = 3.4028234663852886e38;

/** A valid scalar of `t`. */
function scalarOf(t: ScalarType): fc.Arbitrary<Scalar> {
  const int = (min: number, max: number) =>
    fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max, 0, -0));
  switch (t) {
    case "Boolean":
      return fc.boolean();
    case "SByte":
      return int(-128, 127);
    case "Byte":
      return int(0, 255);
    case "Int16":
      return int(-32768, 32767);
    case "UInt16":
      return int(0, 65535);
    case "Int32":
      return int(-2147483648, 2147483647);
    case "UInt32":
      return int(0, 4294967295);
    case "Int64":
      return fc.oneof(
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n, 2n ** 53n + 1n),
      );
    case "UInt64":
      return fc.oneof(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.constantFrom(0n, 2n ** 64n - 1n, 2n ** 63n),
      );
    case "Float":
      return fc.oneof(fc.float(), fc.constantFrom(maxFloat, -maxFloat, Infinity, NaN));
    case "Double":
      return fc.double();
    case "String":
      return text(24);
    case "DateTime":
      return fc.oneof(
        fc.date({ noInvalidDate: true }),
        fc.constantFrom(new Date(8.64e15), new Date(-8.64e15), new Date(0)),
      );
    case "ByteString":
      return fc.uint8Array({ maxLength: 24 });
  }
}

/** A valid value of `t` (null included). */
function valueOf(t: DataType): fc.Arbitrary<Value> {
  const base = elementType(t);
  const v: fc.Arbitrary<Value> = isArrayType(t)
    ? fc.array(scalarOf(base), { maxLength: 6 })
    : scalarOf(base);
  return fc.option(v, { nil: null, freq: 8 });
}

const arbTypedValue = arbType.chain((t) => valueOf(t).map((v) => [t, v] as const));

/** Numbers, bigints, strings, bytes and dates of every range and validity, for any type. */
const wildNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(
    -5.5,
    1e300,
    -0,
    NaN,
    Infinity,
    -Infinity,
    2 ** 31,
    -(2 ** 31) - 1,
    2 ** 32,
    2 ** 53,
    2 ** 53 + 2,
    256,
    -1,
    65536,
    3.5e38,
    maxFloat,
  ),
);
const wildBigInt = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.constantFrom(2n ** 64n - 1n, 2n ** 63n, 2n ** 63n - 1n, -(2n ** 63n), -1n, 0n),
);
/** A string beyond every --max-value the link properties use (shared: made once). */
const hugeString = "x".repeat(600);
const hugeBytes = new Uint8Array(600).fill(7);
const wildScalar: fc.Arbitrary<Scalar> = fc.oneof(
  { weight: 3, arbitrary: wildNumber },
  { weight: 2, arbitrary: wildBigInt },
  fc.boolean(),
  { weight: 2, arbitrary: fc.oneof(text(20), ascii(200, 400), fc.constant(hugeString)) },
  fc.oneof(fc.uint8Array({ maxLength: 24 }), fc.constant(hugeBytes)),
  fc.oneof(fc.date(), fc.constantFrom(new Date(NaN), new Date(8.64e15), new Date(-8.64e15))),
);
/** Array elements: mostly short, so that most arrays fit --max-value. */
const wildElement: fc.Arbitrary<Scalar> = fc.oneof(
  { weight: 3, arbitrary: wildNumber },
  { weight: 2, arbitrary: wildBigInt },
  fc.boolean(),
  { weight: 2, arbitrary: text(12) },
  fc.uint8Array({ maxLength: 12 }),
  fc.date(),
);
const wildValue: fc.Arbitrary<Value> = fc.oneof(
  fc.constant(null),
  { weight: 4, arbitrary: wildScalar },
  { weight: 2, arbitrary: fc.array(wildElement, { maxLength: 6 }) },
  fc.array(wildScalar, { maxLength: 4 }),
  { weight: 3, arbitrary: arbTypedValue.map(([, v]) => v) },
);

/** Statuses: mostly valid OPC UA codes, so that the value decides; then any u32. */
const arbStatus = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.constantFrom(...Object.values(Status)),
      // Any u32 with the reserved bits 28-29 clear and a severity other than 0b11.
      fc.integer({ min: 0, max: 0xffffffff }).map((x) => {
        const c = (x & 0xcfffffff) >>> 0;
        return c >= 0xc0000000 ? (c & 0xbfffffff) >>> 0 : c;
      }),
    ),
  },
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.constantFrom(
    0,
    0xffffffff,
    0xc0000000,
    0x10000000,
    0x20000000,
    0x80000000,
    0x40000000,
    Status.BadDataEncodingInvalid,
    Status.UncertainNoCommunicationLastUsableValue,
    Status.BadNoCommunication,
  ),
);
/** Times: mostly valid, so that the value decides; then any double. */
const arbTime = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.integer({ min: -8.64e15, max: 8.64e15 }),
      fc.double({ min: -8.64e15, max: 8.64e15, noNaN: true }),
      fc.integer({ min: 1.6e12, max: 1.8e12 }),
    ),
  },
  fc.double(),
  fc.constantFrom(
    NaN,
    Infinity,
    -Infinity,
    8.64e15,
    8.64e15 + 1,
    -8.64e15,
    -8.64e15 - 1,
    1.7e12,
    -0,
    9.007199254740992e15,
  ),
);

/** Hop names: real ones, and bytes a peer could put in a path. */
const hopText = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("plant1", "dmz", "relayA", "p", "q", "x.y-z_1") },
  text(15),
);
const pathPool: string[][] = [["plant1"], ["relayA", "plant1"], ["p", "q"], ["日本", "ü"], []];
const arbPath = (maxLength: number) =>
  fc.oneof(fc.constantFrom(...pathPool), fc.array(hopText, { maxLength }));

const idPrefixes = [
  "plant1/plc1/Line2/",
  "plant1/plc1/Grüße/",
  "plant1/",
  "日本/工場/",
  "😀/",
  "",
  "ö",
];
const arbId = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(fc.constantFrom(...idPrefixes), text(10)).map(([p, s]) => p + s),
  },
  { weight: 1, arbitrary: text(40) },
);
const arbIndex = fc.oneof(
  { weight: 6, arbitrary: fc.nat(40) },
  fc.integer({ min: 0, max: 2 ** 35 - 1 }),
  fc.constantFrom(127, 128, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 35 - 1),
);

const arbCause = (str: fc.Arbitrary<string>, since: fc.Arbitrary<number>) =>
  fc.option(fc.record({ hop: str, via: str, since, reason: str }), { nil: null, freq: 3 });

/** One record of a data frame, as written. */
type Rec =
  | { kind: "def"; index: number; id: string; type: DataType; hops: string[] }
  | {
    kind: "state";
    index: number;
    value: Value;
    status: number;
    time: number;
    cause: FailureCause | null;
  }
  | { kind: "removal"; index: number };

/** One record of a data frame, as read (a value may come back as tooLarge). */
type ReadRec =
  | { kind: "def"; index: number; id: string; type: DataType; hops: string[] }
  | {
    kind: "state";
    index: number;
    value: Value | typeof tooLarge;
    status: number;
    time: number;
    cause: FailureCause | null;
  }
  | { kind: "removal"; index: number };

function records(opts: {
  id: fc.Arbitrary<string>;
  path: fc.Arbitrary<string[]>;
  value: fc.Arbitrary<Value>;
  status: fc.Arbitrary<number>;
  time: fc.Arbitrary<number>;
  cause: fc.Arbitrary<FailureCause | null>;
  maxLength: number;
}): fc.Arbitrary<Rec[]> {
  const def = fc.record({
    kind: fc.constant("def" as const),
    index: arbIndex,
    id: opts.id,
    type: arbType,
    hops: opts.path,
  });
  const state = fc.record({
    kind: fc.constant("state" as const),
    index: arbIndex,
    value: opts.value,
    status: opts.status,
    time: opts.time,
    cause: opts.cause,
  });
  const removal = fc.record({ kind: fc.constant("removal" as const), index: arbIndex });
  return fc.array(
    fc.oneof({ weight: 3, arbitrary: def }, { weight: 3, arbitrary: state }, {
      weight: 1,
      arbitrary: removal,
    }),
    { maxLength: opts.maxLength },
  );
}

/** Valid records: everything the protocol can carry, within the default read limits. */
const validRecords = records({
  id: arbId,
  path: arbPath(16),
  value: arbTypedValue.map(([, v]) => v),
  status: fc.integer({ min: 0, max: 0xffffffff }),
  time: fc.double(),
  cause: arbCause(text(20), fc.double()),
  maxLength: 30,
});

function write(w: DataFrameWriter, recs: readonly Rec[]): Uint8Array {
  for (const r of recs) {
    if (r.kind === "def") w.definition(r.index, r.id, r.type, r.hops);
    else if (r.kind === "state") w.state(r.index, r.value, r.status, r.time, r.cause);
    else w.removal(r.index);
  }
  return w.finish();
}

function collector(out: ReadRec[]): DataVisitor {
  return {
    definition: (index, id, type, hops) => out.push({ kind: "def", index, id, type, hops }),
    state: (index, value, status, time, cause) =>
      out.push({ kind: "state", index, value, status, time, cause }),
    removal: (index) => out.push({ kind: "removal", index }),
  };
}

/** Why a read record differs from the written one (`expected`), or null. */
function recordDiff(got: ReadRec | undefined, want: ReadRec): string | null {
  if (got === undefined) return "missing";
  if (got.kind !== want.kind || got.index !== want.index) return "kind or index";
  if (got.kind === "def" && want.kind === "def") {
    if (got.id !== want.id) return "id";
    if (got.type !== want.type) return "type";
    if (got.hops.length !== want.hops.length || got.hops.some((h, i) => h !== want.hops[i])) {
      return "hops";
    }
  }
  if (got.kind === "state" && want.kind === "state") {
    if (got.value === tooLarge || want.value === tooLarge) {
      if (got.value !== want.value) return "value (tooLarge)";
    } else if (!sameExactly(got.value, want.value)) return "value";
    if (got.status !== want.status) return "status";
    if (!Object.is(got.time, want.time)) return "time";
    if (!sameCause(got.cause, want.cause)) return "cause";
  }
  return null;
}

/**
 * True when a control frame carries a text of 65 UTF-8 bytes or more that
 * starts with U+FEFF: msgpackr would drop that character, so decodeFrame
 * refuses such a frame (a ProtocolError) instead of delivering it changed.
 */
function carriesLongFeffText(f: Frame): boolean {
  const texts: string[] = [];
  if (f.type === FrameType.Hello) texts.push(f.hello.hop, f.hello.to);
  if (f.type === FrameType.Close) texts.push(f.reason);
  if (f.type === FrameType.Write) {
    texts.push(f.write.id, ...f.write.via);
    const v = f.write.value;
    for (const x of Array.isArray(v) ? v : [v]) if (typeof x === "string") texts.push(x);
  }
  return texts.some((t) => t.startsWith("\uFEFF") && utf8Length(t) >= 65);
}

function compareRecords(got: readonly ReadRec[], want: readonly ReadRec[], bytes: Uint8Array) {
  check(
    got.length === want.length,
    () => `read ${got.length} records, wrote ${want.length}; frame ${hex(bytes)}`,
  );
  for (let i = 0; i < want.length; i++) {
    const d = recordDiff(got[i], want[i]!);
    check(
      d === null,
      () =>
        `record ${i} differs (${d}): read ${show(got[i])}, wrote ${show(want[i])}; frame ${
          hex(bytes)
        }`,
    );
  }
}

// ---- raw bytes a peer could send ----

/** Fragments that make the data decoder go deep: record kinds, varuints, tags, strings, numbers. */
const token: fc.Arbitrary<readonly number[]> = fc.oneof(
  fc.constantFrom([1], [2], [3], [65], [0x80 | 3], [0x80 | 7]),
  fc.nat(200).map(varuint),
  fc.integer({ min: 0, max: 2 ** 35 - 1 }).map(varuint),
  fc.integer({ min: 0, max: 255 }).map((b) => [b]),
  fc.uint8Array({ maxLength: 12 }).map((b) => [...varuint(b.length), ...b]),
  text(8).map((s) => {
    const b = encoder.encode(s);
    return [...varuint(b.length), ...b];
  }),
  fc.double().map((d) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, d);
    return [...b];
  }),
  fc.integer({ min: 0, max: 0xffffffff }).map((
    u,
  ) => [u >>> 24, (u >>> 16) & 255, (u >>> 8) & 255, u & 255]),
  fc.constantFrom(
    [0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
    [0xff, 0xff, 0xff, 0xff, 0x0f],
    [
      0xc3,
      0x28,
    ],
    [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
  ),
);
const soup = fc.array(token, { maxLength: 48 }).map((ts) => Uint8Array.from(ts.flat()));

/** MessagePack-able values, with the keys that break naive object handling. */
const mpKey = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom("__proto__", "toString", "valueOf", "constructor", "hasOwnProperty", "length"),
);
const mpLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.string({ maxLength: 12 }),
  fc.uint8Array({ maxLength: 8 }),
  fc.date({ noInvalidDate: true }),
  fc.constantFrom("push", "pull", "Double", "Int64[]", "plant1", "dmz", 3),
);
const { mpTree } = fc.letrec<{ mpTree: unknown; mpNode: unknown }>((tie) => ({
  mpTree: fc.oneof({ depthSize: "small", withCrossShrink: true }, mpLeaf, tie("mpNode")),
  mpNode: fc.oneof(
    fc.array(tie("mpTree"), { maxLength: 5 }),
    fc.dictionary(mpKey, tie("mpTree"), { maxKeys: 4 }),
  ),
}));
/** Bodies shaped like the control frames', with arbitrary parts. */
const mpBody: fc.Arbitrary<unknown> = fc.oneof(
  mpTree,
  fc.tuple(
    fc.oneof(fc.constant(3), mpLeaf),
    hopText,
    hopText,
    fc.constantFrom("push", "pull", "x"),
  ),
  fc.tuple(mpLeaf, text(12), fc.constantFrom(...dataTypes, "Nope"), mpTree, fc.array(hopText)),
  fc.tuple(mpLeaf, mpLeaf),
);

function msgpackBody(v: unknown): Uint8Array {
  try {
    return encodeFrame(FrameType.Close, v).subarray(headerSize);
  } catch {
    return new Uint8Array([0xc0]); // Not encodable: nil.
  }
}

/** One frame-like piece: a header (its length right or a little off), a type and a body. */
const frameLike = fc.record({
  type: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 11 }) }, fc.nat(255)),
  body: fc.oneof(soup, fc.uint8Array({ maxLength: 64 }), mpBody.map(msgpackBody)),
  lengthOff: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, fc.integer({ min: -3, max: 3 })),
}).map(({ type, body, lengthOff }) => {
  const out = frameOf(type, body);
  new DataView(out.buffer).setUint32(0, Math.max(0, body.length + 1 + lengthOff));
  return out;
});

// ---------------------------------------------------------------------------
// Decoding a stream the way a link does, checking what the decoder promises
// ---------------------------------------------------------------------------

/** What decoded frames may look like: each field of the type the link relies on. */
function checkFrame(f: Frame): void {
  const finite = (n: number) => typeof n === "number" && Number.isFinite(n);
  switch (f.type) {
    case FrameType.Hello:
      check(
        typeof f.hello.version === "number" && typeof f.hello.hop === "string" &&
          typeof f.hello.to === "string" &&
          (f.hello.direction === "push" || f.hello.direction === "pull"),
        () => `malformed hello decoded: ${show(f)}`,
      );
      return;
    case FrameType.SnapshotEnd:
      return check(finite(f.count), () => `bad snapshot count ${f.count}`);
    case FrameType.Ping:
    case FrameType.Pong:
      return check(finite(f.t), () => `bad heartbeat time ${f.t}`);
    case FrameType.Ack:
      return check(finite(f.bytes), () => `bad ack ${f.bytes}`);
    case FrameType.Write:
      check(
        finite(f.write.rid) && typeof f.write.id === "string" && isDataType(f.write.type) &&
          f.write.via.every((h) => typeof h === "string"),
        () => `malformed write decoded: ${show(f)}`,
      );
      return;
    case FrameType.WriteResult:
      check(
        finite(f.rid) && Number.isInteger(f.status) && f.status >= 0 && f.status <= 0xffffffff,
        () => `malformed write result: ${show(f)}`,
      );
      return;
    case FrameType.Close:
      return check(
        typeof f.reason === "string" && f.reason.length <= 500,
        () => `bad close reason`,
      );
  }
}

function isValueShape(v: unknown, inArray = false): boolean {
  if (v === null) return !inArray;
  if (Array.isArray(v)) return !inArray && v.every((x) => isValueShape(x, true));
  return typeof v === "number" || typeof v === "boolean" || typeof v === "bigint" ||
    typeof v === "string" || v instanceof Date || v instanceof Uint8Array;
}

/** A visitor that checks what the data decoder promises about each record. */
function checkingVisitor(limits: ReadLimits): DataVisitor {
  const index = (i: number) =>
    check(Number.isInteger(i) && i >= 0 && i < 2 ** 35, () => `bad index ${i}`);
  return {
    definition(i, id, type, hops) {
      index(i);
      check(isDataType(type), () => `bad type ${type}`);
      check(utf8Length(id) <= limits.maxId, () => `id over --max-id: ${id.length}`);
      check(hops.length <= limits.maxHops, () => `path over --max-hops: ${hops.length}`);
      check(hops.every((h) => utf8Length(h) <= 63), () => `hop over 63 bytes`);
    },
    state(i, value, status, _time, cause) {
      index(i);
      check(value === tooLarge || isValueShape(value), () => `bad value ${show(value)}`);
      check(
        Number.isInteger(status) && status >= 0 && status <= 0xffffffff,
        () => `status ${status} is not a u32`,
      );
      if (cause !== null) {
        check(
          [cause.hop, cause.via, cause.reason].every((s) => utf8Length(s) <= limits.maxId),
          () => `cause text over --max-id`,
        );
      }
    },
    removal: index,
  };
}

/**
 * Feeds `chunks` through FrameReader, decodeFrame and a DataReader reused
 * across frames (as a link does). Returns the ProtocolError that ended the
 * stream, or null when everything decoded; throws anything else.
 */
function decodeStream(
  chunks: readonly Uint8Array[],
  maxFrame: number,
  limits: ReadLimits,
): ProtocolError | null {
  const reader = new FrameReader(maxFrame);
  const data = new DataReader(limits);
  let type = -1;
  const started = performance.now();
  try {
    for (const chunk of chunks) {
      for (const [t, body] of reader.push(chunk)) {
        type = t;
        check(body.length <= maxFrame, () => `a frame of ${body.length} bytes passed --max-frame`);
        const f = decodeFrame(t, body);
        checkFrame(f);
        if (f.type === FrameType.Data) data.read(f.body, checkingVisitor(limits));
      }
      // What waits for the rest of a frame is less than the largest frame and its header.
      check(reader.buffered < maxFrame + headerSize, () => `buffered ${reader.buffered}`);
    }
  } catch (e) {
    if (e instanceof FuzzFailure) throw e;
    if (e instanceof ProtocolError) return e;
    throw new FuzzFailure(
      `the decoder threw ${(e as Error)?.name}: ${(e as Error)?.message} (frame type ${type}), ` +
        `not a ProtocolError; stream ${hex(concat(chunks))}`,
    );
  }
  const ms = performance.now() - started;
  check(ms < 2000, () => `decoding ${concat(chunks).length} bytes took ${ms} ms`);
  return null;
}

const arbReadLimits: fc.Arbitrary<ReadLimits> = fc.oneof(
  fc.constant({ maxId: 1024, maxHops: 16, maxValue: 256 * 1024 }),
  fc.record({
    maxId: fc.integer({ min: 0, max: 64 }),
    maxHops: fc.integer({ min: 0, max: 64 }),
    maxValue: fc.integer({ min: 0, max: 64 }),
  }),
);

// ---------------------------------------------------------------------------
// Properties of the frame decoder
// ---------------------------------------------------------------------------

/** (a) Any bytes either decode or throw ProtocolError: never another error, never a hang. */
const anyBytes = entry(
  "any bytes decode or throw ProtocolError",
  "codec",
  3000,
  () =>
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 256 }),
        fc.array(frameLike, { maxLength: 6 }).map(concat),
      ),
      chunkSizes,
      fc.oneof(fc.constant(1 << 20), fc.integer({ min: 0, max: 80 })),
      arbReadLimits,
      (bytes, sizes, maxFrame, limits) => {
        decodeStream(cut(bytes, sizes), maxFrame, limits);
      },
    ),
);

/** (b) Valid batches written by DataFrameWriter read back identically, however the stream is cut. */
const roundTrip = entry(
  "valid data frames read back identically",
  "codec",
  1000,
  () =>
    fc.property(
      fc.array(validRecords, { minLength: 1, maxLength: 4 }),
      chunkSizes,
      fc.oneof(fc.constant(64 * 1024), fc.integer({ min: headerSize, max: 64 })),
      (frames, sizes, initial) => {
        const w = new DataFrameWriter(initial);
        const written = frames.map((recs) => write(w, recs));
        const stream = concat(written);
        const reader = new FrameReader(1 << 24);
        const got: ReadRec[][] = [];
        for (const chunk of cut(stream, sizes)) {
          for (const [type, body] of reader.push(chunk)) {
            check(type === FrameType.Data, () => `frame type ${type}`);
            const recs: ReadRec[] = [];
            readDataFrame(body, collector(recs), {
              maxId: 1 << 16,
              maxHops: 64,
              maxValue: 1 << 20,
            });
            got.push(recs);
          }
        }
        check(reader.buffered === 0, () => `${reader.buffered} bytes left over`);
        check(got.length === frames.length, () => `${got.length} frames read of ${frames.length}`);
        frames.forEach((recs, i) => compareRecords(got[i]!, recs, written[i]!));
      },
    ),
);

/** Bytes a value takes after its tag, as the protocol lays it out (independent of the writer). */
function payloadSize(v: Value | Scalar): number {
  const len = (n: number) => varuint(n).length;
  if (v === null || typeof v === "boolean") return 0;
  if (typeof v === "number") return (v | 0) === v && !Object.is(v, -0) ? 4 : 8;
  if (typeof v === "bigint" || v instanceof Date) return 8;
  if (typeof v === "string") {
    const n = utf8Length(v);
    return len(n) + n;
  }
  if (v instanceof Uint8Array) return len(v.length) + v.length;
  let n = len(v.length);
  for (const x of v) n += 1 + payloadSize(x);
  return n;
}

/**
 * (b) Under any limits, the reader hands over exactly the records before
 * the first that breaks one (then throws a RuleError); values over
 * maxValue come as tooLarge.
 */
const limitsRoundTrip = entry(
  "data frames honour --max-id, --max-hops and --max-value exactly",
  "codec",
  1500,
  () =>
    fc.property(
      records({
        id: fc.oneof(arbId, ascii(20, 90)),
        path: fc.oneof(arbPath(8), fc.array(fc.oneof(hopText, ascii(60, 66)), { maxLength: 3 })),
        value: fc.oneof(
          arbTypedValue.map(([, v]) => v),
          fc.array(text(20), { maxLength: 3 }),
          text(60),
          fc.uint8Array({ maxLength: 60 }),
        ),
        status: fc.integer({ min: 0, max: 0xffffffff }),
        time: fc.double(),
        cause: arbCause(fc.oneof(text(10), ascii(20, 90)), fc.double()),
        maxLength: 16,
      }),
      fc.record({
        maxId: fc.integer({ min: 0, max: 120 }),
        maxHops: fc.integer({ min: 0, max: 10 }),
        maxValue: fc.integer({ min: 0, max: 120 }),
      }),
      (recs, limits) => {
        const frame = write(new DataFrameWriter(), recs);
        const got: ReadRec[] = [];
        let error: unknown = null;
        try {
          readDataFrame(frame.subarray(headerSize), collector(got), limits);
        } catch (e) {
          error = e;
        }
        const want: ReadRec[] = [];
        let prevHops: string[] | null = null;
        for (const r of recs) {
          let breaks = false;
          if (r.kind === "def") {
            const same = prevHops !== null && prevHops.length === r.hops.length &&
              prevHops.every((h, i) => h === r.hops[i]);
            breaks = utf8Length(r.id) > limits.maxId ||
              (!same &&
                (r.hops.length > limits.maxHops || r.hops.some((h) => utf8Length(h) > 63)));
            if (!same) prevHops = r.hops;
          } else if (r.kind === "state") {
            breaks = r.cause !== null &&
              [r.cause.hop, r.cause.via, r.cause.reason].some((s) => utf8Length(s) > limits.maxId);
          }
          if (breaks) {
            check(
              error instanceof RuleError,
              () =>
                `expected a RuleError at record ${want.length} (${show(r)}), got ${
                  errorText(error)
                }; frame ${hex(frame)}`,
            );
            compareRecords(got, want, frame);
            return;
          }
          want.push(
            r.kind === "state" && payloadSize(r.value) > limits.maxValue
              ? { ...r, value: tooLarge }
              : r,
          );
        }
        check(error === null, () => `unexpected ${errorText(error)}; frame ${hex(frame)}`);
        compareRecords(got, want, frame);
      },
    ),
);

/** Valid control frames, as decodeFrame should return them. */
const controlSpec: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({
    version: fc.oneof({ weight: 4, arbitrary: fc.constant(protocolVersion) }, fc.integer()),
    hop: hopText,
    to: hopText,
    direction: fc.constantFrom<"push" | "pull">("push", "pull"),
  }).map((hello) => ({ type: FrameType.Hello, hello })),
  fc.constant({ type: FrameType.SnapshotBegin }),
  fc.nat().map((count) => ({ type: FrameType.SnapshotEnd, count })),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((t) => ({ type: FrameType.Ping, t })),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((t) => ({ type: FrameType.Pong, t })),
  fc.nat().map((bytes) => ({ type: FrameType.Ack, bytes })),
  fc.oneof(text(30), long(480, 520)).map((reason) => ({ type: FrameType.Close, reason })),
  fc.record({
    rid: fc.nat(),
    id: fc.oneof(text(20), long(60, 100)),
    typed: arbTypedValue,
    via: fc.array(hopText, { maxLength: 3 }),
  }).map(({ rid, id, typed: [type, value], via }) => ({
    type: FrameType.Write,
    write: { rid, id, type, value, via },
  })),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 0xffffffff })).map(([rid, status]) => ({
    type: FrameType.WriteResult,
    rid,
    status,
  })),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/).map((origin) => ({
    type: FrameType.OriginComplete,
    origin,
  })),
);

/** Encodes a control frame with the codec's own encoders. */
function encodeControl(f: Frame): Uint8Array {
  switch (f.type) {
    case FrameType.Hello:
      return helloFrame(f.hello);
    case FrameType.SnapshotBegin:
      return simpleFrame(f.type);
    case FrameType.SnapshotEnd:
      return simpleFrame(f.type, f.count);
    case FrameType.Ping:
    case FrameType.Pong:
      return simpleFrame(f.type, f.t);
    case FrameType.Ack:
      return simpleFrame(f.type, f.bytes);
    case FrameType.Close:
      return simpleFrame(f.type, f.reason);
    case FrameType.Write:
      return writeFrame(f.write);
    case FrameType.WriteResult:
      return writeResultFrame(f.rid, f.status);
    case FrameType.Data:
      return frameOf(f.type, f.body);
    case FrameType.OriginComplete:
      return originCompleteFrame(f.origin);
  }
}

/** Valid control frames, to mutate. */
/** Control frames that decode as they are (none carries a text decodeFrame refuses). */
const controlFrame: fc.Arbitrary<Uint8Array> = controlSpec
  .filter((f) => !carriesLongFeffText(f))
  .map(encodeControl);

/** Why a decoded control frame differs from the one encoded, or null. */
function frameDiff(got: Frame, want: Frame): string | null {
  const same = (a: string, b: string) => a === b;
  if (got.type !== want.type) return "type";
  switch (want.type) {
    case FrameType.Hello: {
      const g = (got as typeof want).hello, w = want.hello;
      return g.version === w.version && same(g.hop, w.hop) && same(g.to, w.to) &&
          g.direction === w.direction
        ? null
        : "hello";
    }
    case FrameType.SnapshotEnd:
      return (got as typeof want).count === want.count ? null : "count";
    case FrameType.Ping:
    case FrameType.Pong:
      return (got as typeof want).t === want.t ? null : "time"; // MessagePack sends -0 as 0.
    case FrameType.Ack:
      return (got as typeof want).bytes === want.bytes ? null : "bytes";
    case FrameType.Close: {
      // The reason is cut to 500 UTF-16 units after decoding.
      const g = (got as typeof want).reason;
      return g === want.reason.slice(0, 500) ? null : "reason";
    }
    case FrameType.Write: {
      const g = (got as typeof want).write, w = want.write;
      if (g.rid !== w.rid || !same(g.id, w.id) || g.type !== w.type) return "write request";
      if (g.via.length !== w.via.length || g.via.some((h, i) => !same(h, w.via[i]!))) return "via";
      return sameExactly(g.value, w.value, false) ? null : "write value";
    }
    case FrameType.WriteResult: {
      const g = got as typeof want;
      return g.rid === want.rid && g.status === want.status ? null : "write result";
    }
    case FrameType.OriginComplete:
      return (got as typeof want).origin === want.origin ? null : "origin";
  }
  return null;
}

/** (b) Valid control frames, however the stream is cut, decode to what was encoded. */
const controlRoundTrip = entry(
  "valid control frames read back identically",
  "codec",
  1000,
  () =>
    fc.property(
      fc.array(controlSpec, { minLength: 1, maxLength: 6 }),
      chunkSizes,
      (specs, sizes) => {
        const written = specs.map(encodeControl);
        const stream = concat(written);
        const reader = new FrameReader(1 << 20);
        const got: (Frame | null)[] = [];
        for (const chunk of cut(stream, sizes)) {
          for (const [type, body] of reader.push(chunk)) {
            const i = got.length;
            try {
              got.push(decodeFrame(type, body));
            } catch (e) {
              // The one refusal a valid frame may meet (see carriesLongFeffText).
              if (!(e instanceof ProtocolError) || !carriesLongFeffText(specs[i]!)) throw e;
              got.push(null);
            }
          }
        }
        check(got.length === specs.length, () => `${got.length} frames of ${specs.length}`);
        specs.forEach((want, i) => {
          const g = got[i]!;
          if (g === null) return;
          const d = frameDiff(g, want);
          check(
            d === null,
            () =>
              `frame ${i} differs (${d}): read ${show(got[i])}, wrote ${show(want)}; frame ${
                hex(written[i]!)
              }`,
          );
        });
      },
    ),
);

type Mutation = {
  op: "flip" | "set" | "truncate" | "insert" | "delete" | "bodyFlip" | "bodyInsert" | "bodyDelete";
  at: number;
  byte: number;
  bytes: Uint8Array;
};
const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom(
    "flip",
    "set",
    "truncate",
    "insert",
    "delete",
    "bodyFlip",
    "bodyFlip",
    "bodyInsert",
    "bodyDelete",
  ),
  at: fc.nat(),
  byte: fc.nat(255),
  bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 6 }), soup),
});

/** Applies mutations: whole-stream ones, and ones inside a frame body that keep its length right. */
function mutate(frames: Uint8Array[], ms: readonly Mutation[]): Uint8Array {
  let fs: Uint8Array[] = frames.map((f) => f.slice());
  let stream: Uint8Array | null = null;
  for (const m of ms) {
    if (m.op.startsWith("body") && stream === null && fs.length > 0) {
      const i = m.at % fs.length;
      const f = fs[i]!;
      const bodyLen = f.length - headerSize;
      let next: Uint8Array;
      if (m.op === "bodyFlip") {
        if (bodyLen === 0) continue;
        next = f.slice();
        next[headerSize + ((m.at >>> 4) % bodyLen)]! ^= m.byte || 1;
      } else {
        const at = headerSize + (bodyLen === 0 ? 0 : (m.at >>> 4) % (bodyLen + 1));
        const tail = m.op === "bodyInsert"
          ? f.subarray(at)
          : f.subarray(Math.min(f.length, at + 1 + (m.byte % 8)));
        next = concat([
          f.subarray(0, at),
          m.op === "bodyInsert" ? m.bytes : new Uint8Array(0),
          tail,
        ]);
        new DataView(next.buffer).setUint32(0, next.length - 4);
      }
      fs = fs.map((x, j) => (j === i ? next : x));
      continue;
    }
    let s: Uint8Array = stream ?? concat(fs);
    const at = s.length === 0 ? 0 : m.at % s.length;
    switch (m.op) {
      case "flip":
        if (s.length > 0) s[at]! ^= m.byte || 1;
        break;
      case "set":
        if (s.length > 0) s[at] = m.byte;
        break;
      case "truncate":
        s = s.subarray(0, at);
        break;
      case "insert":
        s = concat([s.subarray(0, at), m.bytes, s.subarray(at)]);
        break;
      case "delete":
        s = concat([s.subarray(0, at), s.subarray(at + 1 + (m.byte % 8))]);
        break;
      default:
        break; // A body mutation after the stream was cut apart: skipped.
    }
    stream = s;
  }
  return stream ?? concat(fs);
}

/** (c) Valid frames, mutated (flips, truncation, insertion, deletion), never throw anything but ProtocolError. */
const mutations = entry(
  "mutated valid frames only ever throw ProtocolError",
  "codec",
  1500,
  () =>
    fc.property(
      fc.array(
        fc.oneof(validRecords.map((recs) => write(new DataFrameWriter(), recs)), controlFrame),
        { minLength: 1, maxLength: 4 },
      ),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      chunkSizes,
      arbReadLimits,
      (frames, ms, sizes, limits) => {
        // Unmutated, the stream decodes completely under roomy limits.
        const clean = decodeStream(cut(concat(frames), sizes), 1 << 20, defaultRoomy);
        check(clean === null, () => `valid frames did not decode: ${errorText(clean)}`);
        decodeStream(cut(mutate(frames, ms), sizes), 1 << 20, limits);
      },
    ),
);

const defaultRoomy: ReadLimits = { maxId: 1 << 16, maxHops: 64, maxValue: 1 << 20 };

// ---------------------------------------------------------------------------
// Properties of a receiving link and its store
// ---------------------------------------------------------------------------

/** The wire under the link: takes what the link writes and drops it. */
class NullWire implements Wire {
  written = 0;
  closed = false;
  write(b: Uint8Array): boolean {
    this.written += b.length;
    return true;
  }
  buffered(): number {
    return 0;
  }
  close(): void {
    this.closed = true;
  }
}

const self = "dmz";
const peer = "plant1";
const linkOrigin = `link:${peer}`;
/** Limits small enough for a few frames to reach them. */
const tightLimits: LinkLimits = {
  maxPoints: 8,
  maxLinkPoints: 12,
  maxId: 48,
  maxHops: 4,
  maxValue: 256,
};
/** The default limits, but --max-value below the huge values the properties send. */
const roomyLimits: LinkLimits = {
  maxPoints: 10_000,
  maxLinkPoints: 10_000,
  maxId: 1024,
  maxHops: 16,
  maxValue: 512,
};

/** A listener-side link from `plant1` into hop `dmz`, with points it must never touch. */
function receivingLink(
  limits: LinkLimits,
  origins: readonly string[] | undefined,
  maxFrame = 1 << 20,
) {
  const clock = new ManualClock();
  const store = new PointStore(self, { now: () => clock.now() });
  // Local points, and a relay's points owned by another link that is up.
  store.apply(
    { id: "dmz/own", value: 1, type: "Double", status: 0, time: 1, hops: [], cause: null },
    "sim",
  );
  const owners = new OriginOwners();
  owners.up("link:relayB");
  owners.claim("relayB", "link:relayB");
  store.apply({
    id: "relayB/kept",
    value: 2,
    type: "Double",
    status: 0,
    time: 2,
    hops: ["relayB"],
    cause: null,
  }, "link:relayB");
  const wire = new NullWire();
  const link = new Link(wire, {
    hop: self,
    peer,
    role: "listener",
    peerRole: "push",
    store,
    clock,
    log: logger("fuzz"),
    heartbeat: 1000,
    timeout: 5000,
    maxFrame,
    writeTimeout: 3000,
    limits,
    owners,
    ...(origins !== undefined ? { origins } : {}),
    onWrite: () => Promise.resolve(Status.BadNotWritable as StatusCode),
  });
  link.start();
  return { clock, store, link, wire };
}

const hello = helloFrame({ version: protocolVersion, hop: peer, to: self, direction: "push" });

/** Why a stored point (or one a listener saw) breaks the rules for points from the link, or null. */
function pointProblem(
  p: StoredPoint,
  limits: LinkLimits,
  origins: readonly string[] | undefined,
): string | null {
  if (p.id === "dmz/own") {
    return p.origin === "sim" && p.value === 1 && p.status === 0 ? null : "a local point changed";
  }
  if (p.id === "relayB/kept") {
    return p.origin === "link:relayB" && p.value === 2 && p.status === 0
      ? null
      : "another link's point changed";
  }
  if (p.origin !== linkOrigin) return `origin ${p.origin}`;
  const problem = valueProblem(p.type, p.value);
  if (problem !== null) return `value: ${problem}`;
  if (!Number.isFinite(p.time) || !validTime(p.time)) return `time ${p.time}`;
  if (!isStatusCode(p.status)) return `status 0x${p.status.toString(16)}`;
  if (p.cause !== null && (!Number.isFinite(p.cause.since) || !validTime(p.cause.since))) {
    return `cause since ${p.cause.since}`;
  }
  if (utf8Length(p.id) > limits.maxId) return `id of ${utf8Length(p.id)} bytes`;
  const hops = p.hops;
  if (hops.length > limits.maxHops + 1) return `path of ${hops.length} hops`;
  if (hops.at(-1) !== self || hops.at(-2) !== peer) return `path ${hops.join(">")}`;
  const origin = originHop(p.id);
  if (hops[0] !== origin) {
    return `path ${show(hops)} does not start with the origin ${show(origin)}`;
  }
  if (hops.some((h) => !hopNamePattern.test(h))) return `path ${show(hops)} has a non-hop name`;
  if (origin === self) return "this hop's own origin";
  if (origin === "relayB") return "an origin another link owns";
  if (origins !== undefined && !origins.includes(origin)) return `origin ${origin} not allowed`;
  return null;
}

/** How a definition's path is built from its origin. */
const pathShapes = {
  direct: (o: string) => o === peer ? [peer] : [o, peer],
  relayed: (o: string) => [o, "relayA", peer],
  relayed2: (o: string) => [o, "p", "q", peer],
  // With o = "o" this joins (by NUL) like ["o\0q", peer].
  q: (o: string) => [o, "q", peer],
  wrongLast: (o: string) => [o, "relayA"],
  wrongFirst: () => ["relayA", peer],
  long: (o: string) => [o, "h1", "h2", "h3", "h4", "h5", peer],
  // One hop over the tight and the default --max-hops.
  five: (o: string) => [o, "h1", "h2", "h3", peer],
  seventeen: (o: string) => [o, ...Array.from({ length: 15 }, (_, i) => `h${i}`), peer],
  badHop: (o: string) => [o, "x".repeat(64), peer],
  empty: () => [],
} as const;
type PathShape = keyof typeof pathShapes;

/**
 * A record of a peer's data frame, before {@link planFrames} encodes it. A
 * tame one is made acceptable in context: a state or removal names an index
 * defined before it (`pick` chooses which), a definition takes a free index
 * and an origin the link allows. A wild one is sent as generated (but for
 * most definitions, a free index: the attack is in their origin or path).
 */
type LinkRec =
  | {
    kind: "def";
    wild: boolean;
    pick: number;
    index: number;
    origin: string;
    suffix: string;
    /**
     * A path shape, the path itself, or "merge": an earlier path of the
     * sequence with its first two hops joined by a separator (a path that
     * equals an earlier one once joined), its first hop the origin.
     */
    path: PathShape | string[] | "merge";
    type: DataType;
  }
  | (Exclude<Rec, { kind: "def" }> & { wild: boolean; pick: number });

const linkIndex = fc.oneof({ weight: 12, arbitrary: fc.nat(12) }, arbIndex);
const tameDef: fc.Arbitrary<LinkRec> = fc.record({
  kind: fc.constant("def" as const),
  wild: fc.constant(false),
  pick: fc.nat(),
  index: fc.nat(12),
  origin: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom("plant1", "relayA") },
    fc.constantFrom("relayB", "o"),
  ),
  suffix: fc.oneof(fc.constantFrom("a", "b", "c/d", "ü", ""), text(6)),
  path: fc.constantFrom<PathShape>("direct", "relayed", "relayed2", "q"),
  type: arbType,
});
const hostileShapes: PathShape[] = [
  "wrongLast",
  "wrongFirst",
  "long",
  "five",
  "seventeen",
  "badHop",
  "empty",
];
/** Definitions a hostile peer sends: forged origins and paths, names and lengths over the limits. */
const wildDef: fc.Arbitrary<LinkRec> = fc.record({
  kind: fc.constant("def" as const),
  wild: fc.constant(true),
  pick: fc.nat(),
  index: linkIndex,
  attack: fc.oneof(
    // Origins that are not hop names, this hop's own, or outside the allowed ones.
    fc.record({
      origin: fc.constantFrom("o\u0000q", "o\u0000q", "evil", "dmz", "Plant1", "", "a b"),
      path: fc.constant<PathShape | string[]>("direct"),
      suffix: fc.constantFrom("a", "b"),
    }),
    // Allowed origins with forged or oversized paths and ids.
    fc.record({
      origin: fc.constantFrom("plant1", "relayA"),
      path: fc.oneof(
        fc.constantFrom<PathShape | string[]>(...hostileShapes),
        fc.constant<PathShape | string[]>("direct"),
      ),
      suffix: fc.oneof(text(6), fc.constant("x".repeat(60))),
    }),
    fc.record({
      origin: hopText,
      path: fc.oneof(
        fc.constantFrom<PathShape | string[]>(...(Object.keys(pathShapes) as PathShape[])),
        fc.array(hopText, { maxLength: 6 }),
      ),
      suffix: text(6),
    }),
    // The separator goes into the origin: "\0" (what a joined key uses), ">", "/", ",".
    fc.record({
      origin: fc.constantFrom("\u0000", ">", "/", ","),
      path: fc.constant<PathShape | string[] | "merge">("merge"),
      suffix: fc.constantFrom("a", "b"),
    }),
  ),
  type: arbType,
}).map(({ attack, ...d }) => ({ ...d, ...attack }));
const wild = fc.oneof({ weight: 60, arbitrary: fc.constant(false) }, fc.constant(true));
const linkState: fc.Arbitrary<LinkRec> = fc.record({
  kind: fc.constant("state" as const),
  wild,
  pick: fc.nat(),
  index: linkIndex,
  value: wildValue,
  status: arbStatus,
  time: arbTime,
  cause: arbCause(fc.oneof({ weight: 30, arbitrary: text(8) }, ascii(40, 60)), arbTime),
});
const linkRemoval: fc.Arbitrary<LinkRec> = fc.record({
  kind: fc.constant("removal" as const),
  wild,
  pick: fc.nat(),
  index: linkIndex,
});
const linkRecords: fc.Arbitrary<LinkRec[]> = fc.array(
  fc.oneof(
    { weight: 24, arbitrary: tameDef },
    { weight: 36, arbitrary: linkState },
    { weight: 6, arbitrary: linkRemoval },
    { weight: 2, arbitrary: wildDef },
  ),
  { maxLength: 16 },
);

/** One frame of a peer's sequence: data records (encoded by {@link planFrames}) or bytes. */
type LinkFrame = { recs: LinkRec[] } | { bytes: Uint8Array };

/** A frame a pushing peer could send after hello, mostly data. */
const linkFrame: fc.Arbitrary<LinkFrame> = fc.oneof(
  { weight: 30, arbitrary: linkRecords.map((recs) => ({ recs })) },
  {
    weight: 6,
    arbitrary: fc.oneof(
      { weight: 3, arbitrary: fc.constant(simpleFrame(FrameType.SnapshotBegin)) },
      fc.nat(100).map((n) => simpleFrame(FrameType.SnapshotEnd, n)),
      { weight: 2, arbitrary: fc.double().map((t) => simpleFrame(FrameType.Ping, t)) },
      fc.double().map((t) => simpleFrame(FrameType.Pong, t)),
      fc.tuple(fc.nat(), text(20), arbTypedValue).map(([rid, id, [type, value]]) =>
        writeFrame({ rid, id, type, value, via: [] })
      ),
      fc.tuple(fc.nat(), fc.nat()).map(([rid, s]) => writeResultFrame(rid, s)),
    ).map((bytes) => ({ bytes })),
  },
  {
    weight: 2,
    arbitrary: fc.oneof(
      soup.map((b) => frameOf(FrameType.Data, b)),
      controlFrame,
      frameLike,
      fc.oneof(text(10), mpTree).map((v) =>
        typeof v === "string"
          ? simpleFrame(FrameType.Close, v)
          : frameOf(FrameType.Close, msgpackBody(v))
      ),
    ).map((bytes) => ({ bytes })),
  },
);

/**
 * Encodes a peer's frames, making tame records acceptable in context (see
 * {@link LinkRec}) so that most of a sequence reaches the store instead of
 * the first record ending the link. Builds new records: fast-check keeps
 * the generated ones for shrinking.
 */
function planFrames(frames: readonly LinkFrame[], origins: readonly string[] | undefined) {
  const defined: number[] = [];
  const ids = new Map<number, string>();
  const paths: string[][] = [];
  const w = new DataFrameWriter();
  return frames.map((f) => {
    if ("bytes" in f) return f.bytes;
    const recs: Rec[] = [];
    for (const r of f.recs) {
      if (r.kind === "def") {
        let origin = r.origin;
        if (!r.wild && origins !== undefined && !origins.includes(origin)) {
          origin = origins[r.pick % origins.length]!;
        }
        let hops: string[];
        if (r.path === "merge") {
          // origin holds the separator; the earlier path must have three hops or more.
          const earlier = paths.filter((p) => p.length >= 3);
          const base = earlier[r.pick % Math.max(1, earlier.length)] ?? ["o", "q", peer];
          hops = [`${base[0]}${origin}${base[1]}`, ...base.slice(2)];
          origin = hops[0]!;
        } else hops = typeof r.path === "string" ? [...pathShapes[r.path](origin)] : r.path;
        paths.push(hops);
        const id = r.suffix === "" ? origin : `${origin}/${r.suffix}`;
        let index = r.index;
        // Taken by another point: a free index instead (a third of the wild ones keep it).
        if ((!r.wild || r.pick % 3 !== 0) && ids.has(index) && ids.get(index) !== id) {
          index = 0;
          while (ids.has(index) && ids.get(index) !== id) index++;
        }
        ids.set(index, id);
        if (!defined.includes(index)) defined.push(index);
        recs.push({ kind: "def", index, id, type: r.type, hops });
      } else if (r.wild) recs.push(r);
      else if (defined.length > 0) {
        const index = defined[r.pick % defined.length]!;
        if (r.kind === "removal") {
          defined.splice(defined.indexOf(index), 1);
          ids.delete(index);
        }
        recs.push({ ...r, index });
      } // A tame state before any definition: dropped.
    }
    return write(w, recs);
  });
}

const arbOrigins: fc.Arbitrary<readonly string[] | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  fc.constant(["plant1"]),
  { weight: 2, arbitrary: fc.constant(["plant1", "relayA"]) },
  fc.constant(["plant1", "relayA", "o", "evil"]),
);

/**
 * (2) Arbitrary frame sequences from an authenticated pushing peer, cut at
 * arbitrary boundaries: receive() never throws, every point in the store
 * (and every point a store listener sees) is valid and of an allowed
 * origin, the store stays within --max-points, and the link is open or
 * closed with a reason.
 */
const linkSequences = entry(
  "a receiving link stores only valid points, whatever the peer sends",
  "link",
  1500,
  () =>
    fc.property(
      fc.array(linkFrame, { maxLength: 10 }),
      chunkSizes,
      fc.array(fc.nat(40), { maxLength: 24 }),
      arbOrigins,
      fc.boolean(),
      (frames, sizes, advances, origins, tight) => {
        const limits = tight ? tightLimits : roomyLimits;
        const { clock, store, link } = receivingLink(limits, origins);
        const seen: string[] = [];
        store.subscribe({
          onUpdate: (p) => {
            const problem = pointProblem(p, limits, origins);
            if (problem !== null) seen.push(`${show(p.id)}: ${problem} (${show(p)})`);
          },
          onRemove: () => {},
        });
        const stream = concat([hello, ...planFrames(frames, origins)]);
        const where = () => `stream ${hex(stream)}`;
        const chunks = cut(stream, sizes);
        let delivered = 0;
        for (let i = 0; i < chunks.length; i++) {
          const chunk = chunks[i]!;
          try {
            link.receive(chunk);
          } catch (e) {
            throw new FuzzFailure(`receive() threw ${errorText(e)}; ${where()}`);
          }
          delivered += chunk.length;
          chunk.fill(0xee); // The link must have copied what it keeps.
          clock.advance(advances[i] ?? 0);
          const state = link.state;
          check(
            state === "open" || state === "closed" ||
              (state === "hello" && delivered < hello.length),
            () => `state ${state} after ${delivered} bytes; ${where()}`,
          );
          if (state === "closed") {
            const r = link.closeReason;
            const internal = r.startsWith("protocol error: internal error");
            // The peer may also close the link itself (a Close frame).
            check(
              r.startsWith("protocol error:") || r.startsWith("refused:") ||
                r.startsWith(`closed by ${peer}: `),
              () => `closed with reason "${r}"; ${where()}`,
            );
            check(
              !internal,
              () => `closed on an internal error, not a protocol error: "${r}"; ${where()}`,
            );
          }
          for (const p of store.values()) {
            const problem = pointProblem(p, limits, origins);
            check(
              problem === null,
              () => `stored ${show(p.id)}: ${problem} (${show(p)}); ${where()}`,
            );
            if (state === "closed" && p.origin === linkOrigin) {
              check(
                (p.status === Status.UncertainNoCommunicationLastUsableValue ||
                  p.status === Status.BadNoCommunication) && p.cause !== null,
                () => `after the link closed ${show(p)} is not failed; ${where()}`,
              );
            }
          }
          check(
            store.size <= limits.maxPoints,
            () =>
              `the store holds ${store.size} points, over --max-points (${limits.maxPoints}); ${where()}`,
          );
          check(seen.length === 0, () => `a store listener saw ${seen[0]}; ${where()}`);
        }
        link.close("fuzz done");
      },
    ),
);

/** The value a valid received value is stored as, or null when it does not fit its type. */
function expectedFit(type: DataType, v: Value): { value: Value } | null {
  if (v === null) return { value: null };
  const big = elementType(type) === "Int64" || elementType(type) === "UInt64";
  const conv = (x: Scalar): Scalar =>
    big && typeof x === "number" && Number.isSafeInteger(x) ? BigInt(x) : x;
  const value = Array.isArray(v) ? v.map(conv) : conv(v);
  return valueProblem(type, value) === null ? { value } : null;
}

/**
 * (2) Every received state is stored exactly as sent (typed by its
 * definition) when valid, and as Bad without a value, caused by this hop,
 * when not: BadEncodingLimitsExceeded over --max-value, otherwise
 * BadDataEncodingInvalid.
 */
const linkStates = entry(
  "a receiving link applies each state exactly, or as Bad when invalid",
  "link",
  1000,
  () =>
    fc.property(
      fc.array(
        fc.record({
          origin: fc.constantFrom("plant1", "relayA"),
          suffix: text(6),
          type: arbType,
          value: wildValue,
          status: arbStatus,
          time: arbTime,
          cause: arbCause(text(8), arbTime),
        }),
        { minLength: 1, maxLength: 12 },
      ),
      fc.integer({ min: 0, max: 400 }),
      fc.boolean(),
      chunkSizes,
      (points, maxValue, twoFrames, sizes) => {
        const limits = { ...roomyLimits, maxValue };
        const { clock, store, link } = receivingLink(limits, undefined, 1 << 24);
        const w = new DataFrameWriter();
        const ids = points.map((p, i) => `${p.origin}/${i}/${p.suffix}`);
        points.forEach((p, i) =>
          w.definition(i, ids[i]!, p.type, p.origin === peer ? [peer] : [p.origin, peer])
        );
        const defs = twoFrames ? [w.finish()] : [];
        points.forEach((p, i) => w.state(i, p.value, p.status, p.time, p.cause));
        const stream = concat([hello, ...defs, w.finish()]);
        const where = () => `stream ${hex(stream)}`;
        for (const chunk of cut(stream, sizes)) {
          link.receive(chunk);
          chunk.fill(0xee);
        }
        check(link.state === "open", () => `link closed: ${link.closeReason}; ${where()}`);
        const now = clock.now();
        points.forEach((p, i) => {
          const got = store.get(ids[i]!);
          check(got !== undefined, () => `${ids[i]} not stored; ${where()}`);
          const fit = expectedFit(p.type, p.value);
          const big = payloadSize(p.value) > maxValue;
          const valid = !big && fit !== null && isStatusCode(p.status) && validTime(p.time) &&
            (p.cause === null || validTime(p.cause.since));
          const what = () =>
            `${ids[i]} (${p.type}) sent ${show(p)}, stored ${show(got)}; ${where()}`;
          check(got.type === p.type, () => `type: ${what()}`);
          if (valid) {
            check(sameExactly(got.value, fit!.value), () => `value: ${what()}`);
            check(got.status === p.status, () => `status: ${what()}`);
            check(Object.is(got.time, p.time), () => `time: ${what()}`);
            check(sameCause(got.cause, p.cause), () => `cause: ${what()}`);
          } else {
            const status = big ? Status.BadEncodingLimitsExceeded : Status.BadDataEncodingInvalid;
            check(got.status === status, () => `expected Bad 0x${status.toString(16)}: ${what()}`);
            check(got.value === null && got.time === now, () => `refused value kept: ${what()}`);
            check(
              got.cause !== null && got.cause.hop === self && got.cause.via === linkOrigin &&
                got.cause.since === now && got.cause.reason.startsWith(`${peer} sent `),
              () => `refusal cause: ${what()}`,
            );
          }
        });
        link.close("fuzz done");
      },
    ),
);

/** Every property, in the order the long run takes them. */
export const fuzzProperties: readonly FuzzProperty[] = [
  anyBytes,
  roundTrip,
  controlRoundTrip,
  limitsRoundTrip,
  mutations,
  linkSequences,
  linkStates,
];
