/**
 * Base64, once for the whole program: ByteString values in JSON (MQTT
 * payloads, `hopgate watch` lines, the store-and-forward buffer) and in
 * Sparkplug string arrays, PEM certificates and the OPC UA users file.
 * `node:buffer` encodes any length in one call, where a hand-written
 * `btoa(String.fromCharCode(...bytes))` overflows the stack on large arrays.
 */
import { Buffer } from "node:buffer";

/** `bytes` as base64 text (standard alphabet, padded). */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("base64");
}

/**
 * Base64 after ASCII whitespace is removed, as `atob` accepts it: groups of
 * four, the last one possibly of two or three characters with or without
 * its padding.
 */
const base64Text = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

/**
 * The bytes of base64 `text`. Refuses what `atob` refuses, with the same
 * error (`InvalidCharacterError`), where `node:buffer` alone would skip the
 * characters it does not know and decode the rest: a command or a file with
 * broken base64 must fail, not carry other bytes.
 */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const clean = text.replace(/[\t\n\f\r ]/g, "");
  if (!base64Text.test(clean)) {
    throw new DOMException("Failed to decode base64", "InvalidCharacterError");
  }
  // A copy: Buffer.from may return a slice of a pool shared with other buffers.
  return new Uint8Array(Buffer.from(clean, "base64"));
}

/** DER bytes in PEM armour (`label` is `CERTIFICATE`, `PRIVATE KEY`, …), 64 characters a line. */
export function toPem(label: string, der: ArrayBuffer | Uint8Array): string {
  const b64 = toBase64(der instanceof Uint8Array ? der : new Uint8Array(der));
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

/** The DER bytes of the first PEM block in `pem` (its armour lines and whitespace dropped). */
export function fromPem(pem: string): Uint8Array<ArrayBuffer> {
  return fromBase64(pem.replace(/-----[^-]+-----|\s/g, ""));
}
