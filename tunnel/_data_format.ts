/**
 * The data-frame layout both sides must agree on byte for byte: record
 * kinds, value tags, type codes and the bounds on id decoding. Kept in one
 * place so the writer and the reader cannot drift apart.
 */
import { type DataType, scalarTypes } from "../core/mod.ts";

/** Record kinds in a data frame body. */
export const RecordKind = { Definition: 1, State: 2, Removal: 3 } as const;

/** Value tags. A state's tag with {@link causeFlag} set is followed by a failure cause. */
export const ValueTag = {
  Null: 0,
  False: 1,
  True: 2,
  F64: 3,
  I32: 4,
  I64: 5,
  U64: 6,
  Str: 7,
  Bytes: 8,
  Date: 9,
  Array: 10,
} as const;

/** Set in a state's value tag when a failure cause follows the state. */
export const causeFlag = 0x80;

/** Data types as one byte: the index in scalarTypes, plus 0x80 for arrays. */
export const typeByCode: (DataType | undefined)[] = [];
/** The byte of each data type (see {@link typeByCode}). */
export const codeByType = new Map<DataType, number>();
for (let i = 0; i < scalarTypes.length; i++) {
  const t = scalarTypes[i]!;
  typeByCode[i] = t;
  typeByCode[i | 0x80] = `${t}[]`;
  codeByType.set(t, i);
  codeByType.set(`${t}[]`, i | 0x80);
}

/** Hop count that means "the previous definition's path in this frame" (real paths have ≤ 64). */
export const samePath = 65;

/**
 * Id bytes a reader decodes per frame beyond the frame's own length. Ids are
 * sent as the bytes they share with the previous one plus the rest, so a few
 * bytes can stand for a long id: without a budget one 4 MiB frame of
 * definitions of a long id made a hop decode gigabytes. Writers cut their
 * frames at half of it ({@link idBytesPerFrame}).
 */
export const idDecodeBudget = 1024 * 1024;

/** Id bytes a writer puts into one frame at most (see {@link idDecodeBudget}). */
export const idBytesPerFrame = idDecodeBudget / 2;
