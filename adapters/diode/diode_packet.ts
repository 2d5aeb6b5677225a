/**
 * The diode's packet: one UDP datagram, sealed with AES-256-GCM under the
 * link's pre-shared key. The clear header names the key and carries the
 * nonce; everything else is encrypted and authenticated, and the header and
 * both hops' names are authenticated as additional data, so a packet made
 * for one link is refused on any other. Layout (big-endian):
 *
 * ```
 * clear header (20 bytes, authenticated)       inner plaintext (encrypted)
 *  0  u16 magic 0x6864 ("hd")                   0  u8  kind: 1 data, 2 heartbeat, 3 parity, 4 repeat
 *  2  u8  version (1)                           1  u8  flags: 1 change (else carousel), 2 fragment
 *  3  u8  reserved (0)                          2  u32 change number: change packets sent so far
 *  4  u32 key id                                6  u32 carousel cycle
 *  8  u32 epoch  ┐ the 96-bit nonce             10 … kind's body
 * 12  u64 seq    ┘ (never repeats for a key)
 * 20  ciphertext, then the 16-byte GCM tag
 * ```
 *
 * Bodies: data, the tunnel's data-frame records (a definition and a state
 * per point, so each packet stands alone), or with the fragment flag u32
 * split id, u16 part, u16 parts and a piece of such records; heartbeat, u32
 * points the sender holds, u32 its heartbeat (ms), u32 the last complete
 * carousel cycle (0xFFFFFFFF: none yet) and u32 its carousel packets;
 * parity, see xor_parity.ts; repeat, the u64 packet number of a change
 * packet sent earlier and that packet's plaintext.
 *
 * The nonce is the sender's epoch (a boot counter kept in its data
 * directory, at least the Unix time in seconds of its start) and the packet
 * number within it: unique for as long as the clock or the data directory
 * survives a restart, and ordered, so a receiver can refuse packets of an
 * earlier run (a replay) outright; a random prefix could not be ordered.
 */

/** Bytes of the clear header. */
export const headerBytes = 20;
/** Bytes of the GCM tag. */
export const tagBytes = 16;
/** Bytes of the inner header every plaintext starts with. */
export const innerBytes = 10;
/** Bytes an IPv4 and UDP header add on the wire, counted against the rate limit. */
export const wireOverhead = 28;

const magic = 0x6864;
const version = 1;

/** Inner packet kinds. */
export const Kind = { Data: 1, Heartbeat: 2, Parity: 3, Repeat: 4 } as const;
/** Bytes a repeat adds before the plaintext it repeats: its inner header and the u64 packet number. */
export const repeatBytes = innerBytes + 8;
/** Inner packet flags. */
export const Flag = { Change: 1, Fragment: 2 } as const;

/** A packet's clear header. */
export interface PacketHeader {
  keyId: number;
  epoch: number;
  seq: number;
}

/** The inner header of a plaintext. */
export interface Inner {
  kind: number;
  flags: number;
  changeNo: number;
  cycle: number;
}

/** Reads a packet's clear header; `null` when it is not a diode packet of this version. */
export function readHeader(packet: Uint8Array): PacketHeader | null {
  if (packet.length < headerBytes + innerBytes + tagBytes) return null;
  const v = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  if (v.getUint16(0) !== magic || packet[2] !== version) return null;
  return {
    keyId: v.getUint32(4),
    epoch: v.getUint32(8),
    seq: v.getUint32(12) * 2 ** 32 + v.getUint32(16),
  };
}

/** The additional data: the clear header and the link (`sender>receiver`). */
function additionalData(header: Uint8Array, link: Uint8Array): Uint8Array {
  const aad = new Uint8Array(headerBytes + link.length);
  aad.set(header.subarray(0, headerBytes));
  aad.set(link, headerBytes);
  return aad;
}

/** The link's name as authenticated with every packet. */
export function linkName(sender: string, receiver: string): Uint8Array {
  return new TextEncoder().encode(`hopgate diode ${sender}>${receiver}`);
}

/** Seals a plaintext into a packet. */
export async function seal(
  key: CryptoKey,
  h: PacketHeader,
  link: Uint8Array,
  plain: Uint8Array,
): Promise<Uint8Array> {
  const header = new Uint8Array(headerBytes);
  const v = new DataView(header.buffer);
  v.setUint16(0, magic);
  header[2] = version;
  v.setUint32(4, h.keyId);
  v.setUint32(8, h.epoch);
  v.setUint32(12, Math.floor(h.seq / 2 ** 32));
  v.setUint32(16, h.seq >>> 0);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      {
        name: "AES-GCM",
        iv: header.subarray(8, 20) as BufferSource,
        additionalData: additionalData(header, link) as BufferSource,
      },
      key,
      plain as BufferSource,
    ),
  );
  const out = new Uint8Array(headerBytes + sealed.length);
  out.set(header);
  out.set(sealed, headerBytes);
  return out;
}

/** Opens a packet; `null` when it fails authentication (forged, corrupted, or another link's). */
export async function open(
  key: CryptoKey,
  packet: Uint8Array,
  link: Uint8Array,
): Promise<Uint8Array | null> {
  try {
    const plain = await crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: packet.subarray(8, 20) as BufferSource,
        additionalData: additionalData(packet, link) as BufferSource,
      },
      key,
      packet.subarray(headerBytes) as BufferSource,
    );
    const out = new Uint8Array(plain);
    return out.length >= innerBytes ? out : null;
  } catch {
    return null;
  }
}

/** Writes the inner header at the start of `plain`. */
export function writeInner(plain: Uint8Array, inner: Inner): void {
  const v = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  plain[0] = inner.kind;
  plain[1] = inner.flags;
  v.setUint32(2, inner.changeNo);
  v.setUint32(6, inner.cycle);
}

/** Reads the inner header of a plaintext. */
export function readInner(plain: Uint8Array): Inner {
  const v = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  return { kind: plain[0]!, flags: plain[1]!, changeNo: v.getUint32(2), cycle: v.getUint32(6) };
}
