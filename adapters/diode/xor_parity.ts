/**
 * Forward error correction for the diode: one parity packet, the XOR of a
 * group of up to k plaintexts, repairs any one lost packet of the group
 * without a return path. Written here rather than taken from npm: the
 * Reed-Solomon packages there are native addons (which would need FFI
 * permission, against the hop's sandbox) or little-used WebAssembly builds,
 * and a single parity packet already repairs most losses at the rates a
 * diode sees (at 1% loss and k = 8, 99.7% of groups lose at most one
 * packet); what it cannot repair, the carousel brings back within one
 * period.
 *
 * Parity body: u16 group size n (it covers the n packets just before it),
 * u16 XOR of the plaintexts' lengths, then the XOR of the plaintexts, each
 * padded with zeros to the longest.
 */

/** Bytes before the XOR in a parity body. */
export const parityHeader = 4;

/** The parity body of a group of plaintexts. */
export function parityOf(group: readonly Uint8Array[]): Uint8Array {
  let longest = 0;
  let lengths = 0;
  for (const p of group) {
    longest = Math.max(longest, p.length);
    lengths ^= p.length;
  }
  const out = new Uint8Array(parityHeader + longest);
  const v = new DataView(out.buffer);
  v.setUint16(0, group.length);
  v.setUint16(2, lengths);
  for (const p of group) {
    for (let i = 0; i < p.length; i++) out[parityHeader + i]! ^= p[i]!;
  }
  return out;
}

/** The group size a parity body covers. */
export function paritySize(body: Uint8Array): number {
  return body.length < parityHeader ? 0 : new DataView(body.buffer, body.byteOffset).getUint16(0);
}

/**
 * The one missing plaintext of a group, from its parity body and the others;
 * `null` when the parity does not fit them (it cannot have come from them).
 */
export function repair(body: Uint8Array, others: readonly Uint8Array[]): Uint8Array | null {
  if (body.length < parityHeader) return null;
  let length = new DataView(body.buffer, body.byteOffset).getUint16(2);
  const xor = body.slice(parityHeader);
  for (const p of others) {
    if (p.length > xor.length) return null;
    length ^= p.length;
    for (let i = 0; i < p.length; i++) xor[i]! ^= p[i]!;
  }
  if (length > xor.length) return null;
  return xor.subarray(0, length);
}
