/** Codec throughput: one data frame of 4,096 point states, encoded and decoded. */
import { Status } from "../core/mod.ts";
import {
  decodeFrame,
  FrameReader,
  pushDefinition,
  pushState,
  type RawBatch,
  rawDataFrame,
} from "./frame_codec.ts";

const n = 4096;

function batch(withDefs: boolean): RawBatch {
  const b: RawBatch = { defs: [], states: [], removed: [] };
  const hops = ["plant1", "dmz"];
  for (let i = 0; i < n; i++) {
    if (withDefs) pushDefinition(b, i, `plant1/sim/double/${i}`, "Double", hops);
    pushState(b, i, 20 + i * 0.001, Status.Good, 1_700_000_000_000 + i, null);
  }
  return b;
}

const deltas = batch(false);
const encoded = rawDataFrame(deltas);
const reader = new FrameReader(64 << 20);

Deno.bench(`codec encode: data frame of ${n} updates`, () => {
  rawDataFrame(deltas);
});

Deno.bench(`codec decode: data frame of ${n} updates`, () => {
  for (const [type, body] of reader.push(encoded)) decodeFrame(type, body);
});

Deno.bench(`codec encode: snapshot frame of ${n} updates with definitions`, () => {
  rawDataFrame(batch(true));
});
