import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert";
import type { Buffer } from "node:buffer";
import fc from "fast-check";
import { BinaryStream } from "node-opcua-binary-stream";
import {
  DataChangeNotification,
  DataType as UaType,
  DataValue,
  MonitoredItemNotification,
  StatusCodes,
  Variant,
  VariantArrayType,
} from "node-opcua-client";
import { fromVariant, type TypedValue } from "./opcua_values.ts";
import {
  compactChanges,
  type DataChanges,
  decodeDataChangesCompactly,
  numericType,
  readDataChanges,
  releaseChanges,
} from "./opcua_data_changes.ts";

/** A random variant of a type a PLC sends: the scalars read compactly, and others node-opcua reads. */
const variantArb: fc.Arbitrary<Variant | null> = fc.oneof(
  fc.constant(null),
  fc.double().map((value) => new Variant({ dataType: UaType.Double, value })),
  fc.float().map((value) => new Variant({ dataType: UaType.Float, value })),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) =>
    new Variant({ dataType: UaType.Int32, value })
  ),
  fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((value) =>
    new Variant({ dataType: UaType.UInt32, value })
  ),
  fc.integer({ min: -32768, max: 32767 }).map((value) =>
    new Variant({ dataType: UaType.Int16, value })
  ),
  fc.integer({ min: 0, max: 65535 }).map((value) =>
    new Variant({ dataType: UaType.UInt16, value })
  ),
  fc.integer({ min: -128, max: 127 }).map((value) =>
    new Variant({ dataType: UaType.SByte, value })
  ),
  fc.integer({ min: 0, max: 255 }).map((value) => new Variant({ dataType: UaType.Byte, value })),
  fc.boolean().map((value) => new Variant({ dataType: UaType.Boolean, value })),
  fc.string().map((value) => new Variant({ dataType: UaType.String, value })),
  fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }))
    .map((value) =>
      new Variant({ dataType: UaType.Int64, arrayType: VariantArrayType.Scalar, value })
    ),
  fc.array(fc.double(), { maxLength: 4 }).map((value) =>
    new Variant({
      dataType: UaType.Double,
      arrayType: VariantArrayType.Array,
      value: Float64Array.from(value),
    })
  ),
  fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(2 ** 42) }).map((value) =>
    new Variant({ dataType: UaType.DateTime, value })
  ),
);

const dateArb = fc.option(
  fc.date({
    noInvalidDate: true,
    min: new Date(Date.UTC(1601, 0, 1)),
    max: new Date(Date.UTC(9999, 11, 31)),
  }),
  { nil: undefined },
);

const itemArb = fc.record({
  clientHandle: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  value: variantArb,
  status: fc.constantFrom(
    StatusCodes.Good,
    StatusCodes.BadNodeIdUnknown,
    StatusCodes.UncertainLastUsableValue,
    StatusCodes.BadWaitingForInitialData,
  ),
  source: dateArb,
  sourcePicoseconds: fc.integer({ min: 0, max: 999_999_999 }),
  server: dateArb,
  serverPicoseconds: fc.integer({ min: 0, max: 999_999_999 }),
}).map((r) =>
  new MonitoredItemNotification({
    clientHandle: r.clientHandle,
    value: new DataValue({
      ...(r.value ? { value: r.value } : {}),
      statusCode: r.status,
      sourceTimestamp: r.source ?? null,
      sourcePicoseconds: r.source ? r.sourcePicoseconds : 0,
      serverTimestamp: r.server ?? null,
      serverPicoseconds: r.server ? r.serverPicoseconds : 0,
    }),
  })
);

/** The monitoredItems array as a PLC sends it. */
function encodeItems(items: MonitoredItemNotification[] | null): Buffer {
  const stream = new BinaryStream(64 * 1024 + 64 * (items?.length ?? 0));
  stream.writeInteger(items === null ? -1 : items.length);
  for (const it of items ?? []) it.encode(stream);
  return stream.buffer.subarray(0, stream.length);
}

/** What the hop takes of each change, from node-opcua's objects. */
function viaNodeOpcua(bytes: Buffer) {
  const stream = new BinaryStream(bytes);
  const n = stream.readInteger();
  return Array.from({ length: Math.max(n, 0) }, () => {
    const it = new MonitoredItemNotification(null);
    it.decode(stream);
    const dv = it.value;
    return {
      handle: it.clientHandle,
      status: dv.statusCode.value >>> 0,
      time: (dv.sourceTimestamp ?? dv.serverTimestamp)?.getTime() ?? NaN,
      typed: fromVariant(dv.value),
    };
  });
}

/** The same, from the compact columns. */
function viaColumns(c: DataChanges) {
  return Array.from({ length: c.count }, (_, i) => {
    const type = numericType(c.typeIds[i]!);
    const variant = c.variants?.[i] ?? null;
    const typed: TypedValue | null = type !== null
      ? { type, value: type === "Boolean" ? c.numbers[i] === 1 : c.numbers[i]! }
      : variant
      ? fromVariant(variant)
      : null;
    return { handle: c.handles[i]!, status: c.statuses[i]!, time: c.times[i]!, typed };
  });
}

Deno.test("compact data changes read what node-opcua reads: handles, statuses, timestamps and values of every type", () => {
  fc.assert(
    fc.property(fc.array(itemArb, { maxLength: 40 }), (items) => {
      const bytes = encodeItems(items);
      const stream = new BinaryStream(bytes);
      const changes = readDataChanges(stream);
      assertEquals(stream.length, bytes.length, "the whole array is consumed");
      // Strict deep equality tells NaN and -0 apart, as a PLC's values must be.
      assertEquals(viaColumns(changes), viaNodeOpcua(bytes));
    }),
    { numRuns: 300 },
  );
});

Deno.test("compact data changes handed back are reused by the next notification, which reads its own values, not the last one's", () => {
  fc.assert(
    fc.property(
      fc.array(itemArb, { minLength: 1, maxLength: 40 }),
      fc.array(itemArb, { maxLength: 40 }),
      (first, second) => {
        const a = readDataChanges(new BinaryStream(encodeItems(first)));
        const buffer = a.times.buffer;
        releaseChanges(a);
        assertEquals(a.count, 0, "changes handed back read as empty");
        const bytes = encodeItems(second);
        const b = readDataChanges(new BinaryStream(bytes));
        if (second.length <= first.length) {
          assert(b.times.buffer === buffer, "the buffer is reused");
        }
        assertEquals(viaColumns(b), viaNodeOpcua(bytes));
        releaseChanges(b);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("compact data changes: a null array reads as none, and counts beyond the bytes are refused", () => {
  const none = readDataChanges(new BinaryStream(encodeItems(null)));
  assertEquals(none.count, 0);
  const stream = new BinaryStream(8);
  stream.writeInteger(1_000_000);
  stream.writeInteger(0);
  assertThrows(() => readDataChanges(new BinaryStream(stream.buffer)), RangeError);
  // A change cut short: the decoder throws rather than reading past the message.
  const bytes = encodeItems([
    new MonitoredItemNotification({
      clientHandle: 7,
      value: new DataValue({ value: new Variant({ dataType: UaType.Double, value: 1.5 }) }),
    }),
  ]);
  assertThrows(() => readDataChanges(new BinaryStream(bytes.subarray(0, bytes.length - 3))));
});

Deno.test("once installed, a DataChangeNotification carries its compact changes and still gives node-opcua's monitoredItems", () => {
  decodeDataChangesCompactly();
  fc.assert(
    fc.property(fc.array(itemArb, { maxLength: 20 }), (items) => {
      const sent = new DataChangeNotification({ monitoredItems: items });
      const out = new BinaryStream(sent.binaryStoreSize());
      sent.encode(out);
      const got = new DataChangeNotification(null);
      got.decode(new BinaryStream(out.buffer));
      const changes = compactChanges(got);
      assert(changes, "compact changes attached");
      assertEquals(changes.count, items.length);
      // Whoever reads monitoredItems gets what node-opcua's own decoding of those bytes gives.
      const array = encodeItems(items);
      const stream = new BinaryStream(array);
      const own = Array.from({ length: stream.readInteger() }, () => {
        const it = new MonitoredItemNotification(null);
        it.decode(stream);
        return it;
      });
      assertEquals(got.monitoredItems?.length, items.length);
      assertEquals(encodeItems(got.monitoredItems), encodeItems(own));
    }),
    { numRuns: 100 },
  );
});
