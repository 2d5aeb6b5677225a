/**
 * OPC UA StatusCodes (Part 4 §7.39, Part 8 §7.3.2), used as the one status
 * vocabulary of every point so OPC UA, Sparkplug and JSON agree.
 */
import { statusCodeNames } from "./status_names.ts";

/** A uint32 OPC UA StatusCode; its top two bits give the severity. */
export type StatusCode = number;

/** The codes hopgate itself produces or tests for. */
export const Status = {
  Good: 0x00000000,
  Uncertain: 0x40000000,
  Bad: 0x80000000,
  UncertainNoCommunicationLastUsableValue: 0x408f0000,
  UncertainLastUsableValue: 0x40900000,
  BadUnexpectedError: 0x80010000,
  BadInternalError: 0x80020000,
  BadCommunicationError: 0x80050000,
  BadTimeout: 0x800a0000,
  BadShutdown: 0x800c0000,
  BadTooManyOperations: 0x80100000,
  BadCertificateTimeInvalid: 0x80140000,
  BadUserAccessDenied: 0x801f0000,
  BadNoCommunication: 0x80310000,
  BadWaitingForInitialData: 0x80320000,
  BadNodeIdUnknown: 0x80340000,
  BadNotReadable: 0x803a0000,
  BadNotWritable: 0x803b0000,
  BadOutOfRange: 0x803c0000,
  BadNotSupported: 0x803d0000,
  BadTypeMismatch: 0x80740000,
  BadNotConnected: 0x808a0000,
  BadOutOfService: 0x808d0000,
  BadEncodingLimitsExceeded: 0x80080000,
  BadDataEncodingInvalid: 0x80380000,
} as const;

/**
 * True when `code` can be an OPC UA StatusCode: a uint32 whose severity is
 * not the reserved 0b11 and whose reserved bits 28-29 are clear.
 */
export function isStatusCode(code: number): boolean {
  return code >= 0 && code < 0xc0000000 && (code & 0x30000000) === 0 && Number.isInteger(code);
}

/** Name of a status code this module knows. */
export type StatusName = keyof typeof Status;

/** Good, Uncertain or Bad: what a consumer must decide on. */
export type Severity = "good" | "uncertain" | "bad";

const names = new Map<number, string>(
  [...Object.entries(statusCodeNames), ...Object.entries(Status)].map((
    [name, code],
  ) => [code, name]),
);

/** The severity of a status code (its top two bits; 0b11 is reserved and treated as bad). */
export function severity(code: StatusCode): Severity {
  const top = code >>> 30;
  return top === 0 ? "good" : top === 1 ? "uncertain" : "bad";
}

/** True when the code's severity is Good. */
export function isGood(code: StatusCode): boolean {
  return code >>> 30 === 0;
}

/** True when the code's severity is Uncertain. */
export function isUncertain(code: StatusCode): boolean {
  return code >>> 30 === 1;
}

/** True when the code's severity is Bad. */
export function isBad(code: StatusCode): boolean {
  return code >>> 30 >= 2;
}

/**
 * A readable name for logs and JSON: the OPC UA name of the code (every code
 * of the specification, info bits ignored when the exact code has none), hex
 * only for a code the specification does not name.
 */
export function statusName(code: StatusCode): string {
  const known = names.get(code >>> 0) ?? names.get((code & 0xffff0000) >>> 0);
  if (known !== undefined) return known;
  return `0x${(code >>> 0).toString(16).toUpperCase().padStart(8, "0")}`;
}

/** Looks a status up by its OPC UA name; used by config and tests. */
export function statusByName(name: string): StatusCode | undefined {
  return (Status as Record<string, number>)[name] ?? statusCodeNames[name];
}
