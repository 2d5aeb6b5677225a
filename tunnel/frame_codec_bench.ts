/**
 * Data-frame throughput: one frame of 4,096 point states, encoded, and
 * decoded and typed as a receiving link does.
 */
import { type DataType, fitValue, Status, type Value } from "../core/mod.ts";
import { DataFrameWriter } from "./data_frame_writer.ts";
import { type DataVisitor, readDataFrame, tooLarge } from "./data_frame_reader.ts";

const n = 4096;
const hops = ["plant1", "dmz"];
const writer = new DataFrameWriter();

function encode(withDefs: boolean): Uint8Array {
  for (let i = 0; i < n; i++) {
    if (withDefs) writer.definition(i, `plant1/sim/double/${i}`, "Double", hops);
    writer.state(i, 20 + i * 0.001, Status.Good, 1_700_000_000_000 + i, null);
  }
  return writer.finish();
}

const body = encode(false).subarray(5);
let sink: Value | symbol = null;
const visitor: DataVisitor = {
  definition: () => {},
  state: (_i, value) => {
    sink = value === tooLarge ? value : fitValue("Double" as DataType, value);
  },
  removal: () => {},
};

Deno.bench(`codec encode: data frame of ${n} updates`, () => {
  encode(false);
});

Deno.bench(`codec decode: data frame of ${n} updates`, () => {
  readDataFrame(body, visitor);
  if (sink === null) throw new Error("nothing decoded");
});

Deno.bench(`codec encode: snapshot frame of ${n} updates with definitions`, () => {
  encode(true);
});
