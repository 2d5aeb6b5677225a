/**
 * Data changes read straight from the bytes of a PublishResponse. node-opcua
 * decodes every change of a DataChangeNotification into a
 * MonitoredItemNotification, a DataValue, a Variant, a StatusCode and Dates
 * (with `long` temporaries), about 300 bytes of objects that live until the
 * whole response is dispatched; at 1,000,000 changes/s that fed the garbage
 * collector more than anything the hop does with a change. Written by hand
 * rather than with node-opcua's decoders for that reason: the scalar numeric
 * and Boolean values a PLC mostly sends become columns of plain numbers
 * (handle, status, time, value); every other value (strings, arrays, 64-bit
 * integers, structures…) is still decoded by node-opcua's own Variant.
 *
 * The decoder replaces DataChangeNotification's `decode` once a source calls
 * {@link decodeDataChangesCompactly}. Anything else in the process that reads
 * `monitoredItems` (a test's own subscription, node-opcua's debug dumps) still
 * gets node-opcua's objects: they are decoded from the same bytes on first use,
 * until the source has applied the changes and released them
 * ({@link releaseChanges}); from then on the list is empty.
 */
import {
  DataChangeNotification,
  DataType as UaType,
  decodeDiagnosticInfo,
  MonitoredItemNotification,
  Variant,
} from "node-opcua-client";
import type { Buffer } from "node:buffer";
import { BinaryStream } from "node-opcua-binary-stream";
import type { ScalarType } from "../../core/mod.ts";

/**
 * The changes of one DataChangeNotification, one column per field, index by
 * index. The columns are typed arrays over one buffer allocated at its exact
 * size: growing plain arrays change by change allocated about 140 bytes of
 * short-lived heap per change (three quarters of what an OPC UA hop
 * allocated at 1,000,000 changes/s), which drove a young-generation
 * collection every 40 ms and promoted enough to need three full collections
 * a second.
 */
export interface DataChanges {
  count: number;
  /** The client handle of each change. */
  handles: Uint32Array;
  /** Its status code (Good when the PLC sent none). */
  statuses: Uint32Array;
  /** Its source timestamp, else its server timestamp, ms since 1970; NaN when it has neither. */
  times: Float64Array;
  /**
   * The OPC UA built-in type id of a scalar numeric or Boolean value, whose
   * value is in {@link numbers} (0/1 for Boolean; see {@link numericType});
   * 0 when the value is in {@link variants} or the change carries none.
   */
  typeIds: Uint8Array;
  numbers: Float64Array;
  /** Values node-opcua decoded (`null`: no value), for changes whose type id is 0; null when none. */
  variants: (Variant | null)[] | null;
  /**
   * The notification's monitoredItems as received, a view of the whole
   * message, for node-opcua's own decoding on demand; null once released.
   * Whatever keeps the notification then keeps only the columns: held past
   * the changes' use, the message buffers lived until the next full
   * collection (an OPC UA hop at 1,000,000 changes/s: malloc heap climbing
   * about 22 MB/s between full collections; let go, it stays flat, and peak
   * RSS went 220–224 → 212–213 MB in three alternating pairs).
   */
  encoded: Buffer | null;
}

const changesKey = Symbol("hopgate data changes");

/** The changes decoded compactly from a notification, or undefined if node-opcua decoded it. */
export function compactChanges(notification: unknown): DataChanges | undefined {
  return (notification as { [changesKey]?: DataChanges })[changesKey];
}

/** The scalar types kept as plain numbers, by OPC UA built-in type id. */
const numericTypes: (ScalarType | undefined)[] = [];
for (
  const t of [
    "Boolean",
    "SByte",
    "Byte",
    "Int16",
    "UInt16",
    "Int32",
    "UInt32",
    "Float",
    "Double",
  ] as const
) numericTypes[UaType[t]] = t;

/** The hopgate type of a {@link DataChanges.typeIds} entry; `null` for 0 (the value is in `variants`). */
export function numericType(typeId: number): ScalarType | null {
  return numericTypes[typeId] ?? null;
}

/**
 * The buffer of the last changes handed back ({@link releaseChanges}), taken
 * by the next notification: one buffer per notification would be 25 bytes
 * of external memory per change, freed only at the next garbage collection.
 */
let spare: ArrayBuffer | null = null;
/** Largest buffer kept as the spare (40,000 changes). */
const spareLimit = 1 << 20;

/** The columns for `count` changes, over one buffer (doubles first, for their alignment). */
function columns(count: number): DataChanges {
  let bytes = spare;
  if (bytes !== null && bytes.byteLength >= count * 25) spare = null;
  else bytes = new ArrayBuffer(count * 25);
  return {
    count,
    times: new Float64Array(bytes, 0, count),
    numbers: new Float64Array(bytes, count * 8, count),
    handles: new Uint32Array(bytes, count * 16, count),
    statuses: new Uint32Array(bytes, count * 20, count),
    typeIds: new Uint8Array(bytes, count * 24, count),
    variants: null,
    encoded: null,
  };
}

/**
 * Hands the columns of `changes` back once they are applied, for the next
 * notification to reuse, and lets go of the message they came from; `changes`
 * (and its notification's `monitoredItems`) read as empty from then on.
 */
export function releaseChanges(changes: DataChanges): void {
  const bytes = changes.times.buffer as ArrayBuffer;
  changes.count = 0;
  changes.variants = null;
  changes.encoded = null;
  if (bytes.byteLength <= spareLimit && (spare === null || spare.byteLength < bytes.byteLength)) {
    spare = bytes;
  }
}

/** 100 ns ticks since 1601 → ms since 1970, as node-opcua computes it (whole ms, rounded down). */
function ticksToMs(high: number, low: number): number {
  // Exact with doubles: high·2³² / 10⁴ split into whole and remaining parts.
  const rest = high % 10_000;
  return (high - rest) / 10_000 * 4_294_967_296 +
    Math.floor((rest * 4_294_967_296 + low) / 10_000) - 11_644_473_600_000;
}

/** Reads the changes of a DataChangeNotification body from `stream` (at its monitoredItems). */
export function readDataChanges(stream: BinaryStream): DataChanges {
  const buf = stream.buffer;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = stream.length;
  const count = view.getInt32(p, true);
  p += 4;
  // Each change takes 5 bytes at least: a count beyond the bytes left is not a real one.
  if (count > (buf.byteLength - p) / 5) {
    throw new RangeError(
      `DataChangeNotification of ${count} changes in ${buf.byteLength - p} bytes`,
    );
  }
  const out = columns(Math.max(count, 0));
  const { handles, statuses, times, typeIds, numbers } = out;
  for (let i = 0; i < count; i++) {
    handles[i] = view.getUint32(p, true);
    const mask = view.getUint8(p + 4);
    p += 5;
    let typeId = 0;
    let number = 0;
    if (mask & 0x01) {
      const encoding = view.getUint8(p);
      typeId = (encoding & 0xc0) === 0 && numericTypes[encoding] !== undefined ? encoding : 0;
      p++;
      switch (typeId) {
        case UaType.Boolean:
          number = view.getUint8(p) !== 0 ? 1 : 0;
          p += 1;
          break;
        case UaType.SByte:
          number = view.getInt8(p);
          p += 1;
          break;
        case UaType.Byte:
          number = view.getUint8(p);
          p += 1;
          break;
        case UaType.Int16:
          number = view.getInt16(p, true);
          p += 2;
          break;
        case UaType.UInt16:
          number = view.getUint16(p, true);
          p += 2;
          break;
        case UaType.Int32:
          number = view.getInt32(p, true);
          p += 4;
          break;
        case UaType.UInt32:
          number = view.getUint32(p, true);
          p += 4;
          break;
        case UaType.Float:
          number = view.getFloat32(p, true);
          p += 4;
          break;
        case UaType.Double:
          number = view.getFloat64(p, true);
          p += 8;
          break;
        default: {
          // Any other variant, as node-opcua decodes it (from its encoding byte).
          stream.length = p - 1;
          const variant = new Variant();
          variant.decode(stream);
          p = stream.length;
          (out.variants ??= new Array(count).fill(null))[i] = variant;
        }
      }
    }
    typeIds[i] = typeId;
    numbers[i] = number;
    let status = 0;
    if (mask & 0x02) {
      status = view.getUint32(p, true);
      p += 4;
    }
    statuses[i] = status;
    let time = NaN;
    if (mask & 0x04) {
      time = ticksToMs(view.getUint32(p + 4, true), view.getUint32(p, true));
      p += 8;
    }
    if (mask & 0x10) p += 2;
    if (mask & 0x08) {
      if (Number.isNaN(time)) {
        time = ticksToMs(view.getUint32(p + 4, true), view.getUint32(p, true));
      }
      p += 8;
    }
    if (mask & 0x20) p += 2;
    times[i] = time;
  }
  if (p > buf.byteLength) throw new RangeError("DataChangeNotification ends past its message");
  stream.length = p;
  return out;
}

/** node-opcua's own decoding of the monitoredItems array, for whoever reads it. */
function decodeItems(bytes: Buffer): MonitoredItemNotification[] | null {
  const stream = new BinaryStream(bytes);
  const n = stream.readInteger();
  if (n < 0) return null;
  const items: MonitoredItemNotification[] = [];
  for (let i = 0; i < n; i++) {
    const item = new MonitoredItemNotification(null);
    item.decode(stream);
    items.push(item);
  }
  return items;
}

/**
 * Gives `notification` a `monitoredItems` decoded by node-opcua from the
 * changes' bytes on first read (empty once they are released). A function of
 * its own so that the getter's closure holds `changes` only, not the
 * decoder's stream and with it the message.
 */
function itemsOnDemand(notification: object, changes: DataChanges): void {
  let items: MonitoredItemNotification[] | null | undefined;
  Object.defineProperty(notification, "monitoredItems", {
    configurable: true,
    enumerable: true,
    get: () => {
      if (items === undefined) items = changes.encoded ? decodeItems(changes.encoded) : [];
      return items;
    },
    set: (v: MonitoredItemNotification[] | null) => (items = v),
  });
}

let installed = false;

/**
 * From now on, DataChangeNotifications in this process are decoded into
 * {@link DataChanges} ({@link compactChanges}); `monitoredItems` is decoded
 * by node-opcua from the same bytes only if something reads it.
 */
export function decodeDataChangesCompactly(): void {
  if (installed) return;
  installed = true;
  const proto = DataChangeNotification.prototype as unknown as {
    decode(stream: BinaryStream): void;
  };
  const base = Object.getPrototypeOf(proto) as { decode(stream: BinaryStream): void };
  proto.decode = function (this: DataChangeNotification, stream: BinaryStream) {
    base.decode.call(this, stream);
    const from = stream.length;
    const changes = readDataChanges(stream);
    changes.encoded = stream.buffer.subarray(from, stream.length);
    (this as unknown as { [changesKey]: DataChanges })[changesKey] = changes;
    itemsOnDemand(this, changes);
    const infos = stream.readInteger();
    this.diagnosticInfos = infos < 0 ? null : Array.from(
      { length: infos },
      () => decodeDiagnosticInfo(stream),
    );
  };
}
