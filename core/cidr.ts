/**
 * Address ranges (`10.10.0.0/24`, `fd00::/8`, a single address) for the
 * listener's --allow-from: a connection from elsewhere is closed before its
 * TLS handshake costs anything.
 */

/** One address range: the address as bytes and how many leading bits must match. */
export interface Cidr {
  /** As given (`10.0.0.0/8`), for messages. */
  text: string;
  /** The address: 4 bytes for IPv4, 16 for IPv6. */
  bytes: Uint8Array;
  /** The prefix length. */
  bits: number;
}

function ipv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    out[i] = Number(p);
  }
  return out;
}

function ipv6(text: string): Uint8Array | null {
  let t = text;
  let tail: Uint8Array | null = null;
  const lastColon = t.lastIndexOf(":");
  if (t.includes(".") && lastColon >= 0) {
    tail = ipv4(t.slice(lastColon + 1));
    if (!tail) return null;
    t = t.slice(0, lastColon + 1) + "0:0";
  }
  const halves = t.split("::");
  if (halves.length > 2) return null;
  const group = (s: string) => (s === "" ? [] : s.split(":"));
  const head = group(halves[0]!), rest = halves.length === 2 ? group(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const words = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const w = words[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(w)) return null;
    const n = parseInt(w, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** An address as bytes: 4 for IPv4, 16 for IPv6 (an IPv4-mapped IPv6 address gives 4). */
export function addressBytes(text: string): Uint8Array | null {
  const v4 = ipv4(text);
  if (v4) return v4;
  const v6 = ipv6(text.replace(/%.*$/, ""));
  if (!v6) return null;
  const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? v6.slice(12) : v6;
}

/** Parses `10.0.0.0/8`, `10.0.0.7`, `fd00::/8` or `::1`; `null` when it is none of these. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  const addr = addressBytes(slash < 0 ? text : text.slice(0, slash));
  if (!addr) return null;
  const max = addr.length * 8;
  const bitsText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) return null;
  return { text, bytes: addr, bits: Number(bitsText) };
}

/** True when `address` (as a socket reports it) lies in one of `ranges`. */
export function inRanges(address: string, ranges: readonly Cidr[]): boolean {
  const a = addressBytes(address);
  if (!a) return false;
  for (const r of ranges) {
    if (r.bytes.length !== a.length) continue;
    let bits = r.bits, i = 0, match = true;
    for (; bits >= 8; bits -= 8, i++) {
      if (a[i] !== r.bytes[i]) {
        match = false;
        break;
      }
    }
    if (match && bits > 0) {
      const mask = (0xff << (8 - bits)) & 0xff;
      match = (a[i]! & mask) === (r.bytes[i]! & mask);
    }
    if (match) return true;
  }
  return false;
}
