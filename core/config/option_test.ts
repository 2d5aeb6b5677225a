import { deepStrictEqual as assertEquals, throws } from "node:assert";
import {
  duration,
  int,
  option,
  optionMeta,
  repeated,
  type Schema,
  type SchemaOutput,
  type SchemaResult,
  stringList,
  validate,
} from "./option.ts";

/** A Standard Schema written by hand, with no library: an even whole number from text. */
const even: Schema<number> = {
  "~standard": {
    version: 1,
    vendor: "test",
    validate(value: unknown): SchemaResult<number> {
      const n = Number(value);
      return Number.isInteger(n) && n % 2 === 0
        ? { value: n }
        : { issues: [{ message: `"${String(value)}" is not even` }] };
    },
  },
};

Deno.test("option() keeps its help beside any Standard Schema, not only core's builders", () => {
  const declared = option(even, { group: "Test", arg: "<n>", help: "An even number" });
  assertEquals(optionMeta(declared)?.help, "An even number");
  assertEquals(optionMeta(even)?.group, "Test");
  assertEquals(optionMeta(int(0)), undefined);
  assertEquals(validate(declared, "4"), { value: 4 });
});

Deno.test("repeated() parses each item with the item's schema and passes its message on", () => {
  const list = repeated(even);
  assertEquals(list.parse(["2", "4"]), [2, 4]);
  assertEquals(list.parse("6"), [6]);
  assertEquals(list.parse(undefined), []);
  const bad = validate(list, ["2", "3", "5"]);
  assertEquals(bad.issues?.map((i) => i.message), ['"3" is not even', '"5" is not even']);
  // A schema of core's builders composes the same way.
  assertEquals(repeated(duration()).parse(["1s", "250ms"]), [1000, 250]);
});

Deno.test("a builder takes a default, becomes optional, refines and transforms", () => {
  const port = int(1, 65535);
  assertEquals(validate(port.default(7000), undefined), { value: 7000 });
  assertEquals(validate(port.optional(), undefined), { value: undefined });
  assertEquals(validate(port, undefined).issues?.length, 1);

  const low = int(0).refine((n) => n < 10, { error: (i) => `${String(i.input)} is too big` });
  assertEquals(validate(low, "12").issues?.map((i) => i.message), ["12 is too big"]);
  assertEquals(
    validate(int(0).refine((n) => n < 10, "too big"), 12).issues?.[0]?.message,
    "too big",
  );

  const upper = stringList().default([]).transform((list, ctx) => {
    if (list.includes("no")) ctx.issues.push({ code: "custom", input: list, message: "no" });
    return list.map((s) => s.toUpperCase());
  });
  const typed: SchemaOutput<typeof upper> = upper.parse("a, b");
  assertEquals(typed, ["A", "B"]);
  assertEquals(validate(upper, "yes,no").issues?.map((i) => i.message), ["no"]);
});

Deno.test("a schema that validates asynchronously is refused with a message", () => {
  const slow: Schema<number> = {
    "~standard": { version: 1, vendor: "test", validate: () => Promise.resolve({ value: 1 }) },
  };
  throws(() => validate(slow, "1"), /must validate synchronously/);
});
