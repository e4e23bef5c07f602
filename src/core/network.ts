/**
 * Client addresses for the network signal (src/core/signals.ts): parsed without node:net, so the core
 * still runs on Workers, and cut to a prefix (a /24, a /48) so that an address change inside one network
 * is no change.
 */
import { sha256 } from '../crypto/hmac.ts';

const V4_PART = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function parseV4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => V4_PART.test(part))) return undefined;
  return parts.map(Number);
}

function parseV6(text: string): number[] | undefined {
  if (text.length > 45) return undefined;
  let head = text;
  let tail: number[] = [];
  // An IPv4 tail (::ffff:192.0.2.1, 64:ff9b::192.0.2.1) stands for the last two groups.
  const lastColon = head.lastIndexOf(':');
  if (head.includes('.', lastColon)) {
    const v4 = parseV4(head.slice(lastColon + 1));
    if (!v4) return undefined;
    tail = v4;
    head = `${head.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): number[] | undefined => {
    if (part === '') return [];
    const groups = part.split(':');
    if (!groups.every((group) => /^[0-9a-f]{1,4}$/i.test(group))) return undefined;
    return groups.map((group) => Number.parseInt(group, 16));
  };
  const left = groupsOf(halves[0]!);
  const right = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (!left || !right) return undefined;
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  const bytes = groups.flatMap((group) => [group >> 8, group & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** An address as bytes (4 for IPv4 and IPv4-mapped IPv6, 16 for IPv6), or undefined if it is none. */
export function parseAddress(address: unknown): number[] | undefined {
  if (typeof address !== 'string' || address.length === 0 || address.length > 64) return undefined;
  let text = address.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  if (!text.includes(':')) return parseV4(text);
  const bytes = parseV6(text);
  if (!bytes) return undefined;
  // ::ffff:a.b.c.d is the IPv4 client of a dual-stack socket.
  const mapped = bytes.slice(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.slice(12) : bytes;
}

/** The network part of an address: its first `bits` bits, the rest zero. */
function maskTo(bytes: number[], bits: number): number[] {
  return bytes.map((byte, index) => {
    const keep = Math.min(Math.max(bits - index * 8, 0), 8);
    return byte & ((0xff << (8 - keep)) & 0xff);
  });
}

/** A printable prefix: `203.0.113.0/24`, `2001:db8:1::/48` (groups written in full, not compressed). */
function prefixText(bytes: number[], bits: number): string {
  if (bytes.length === 4) return `${bytes.join('.')}/${bits}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return `${groups.join(':')}/${bits}`;
}

export interface NetworkPrefix {
  /** The prefix as text, such as `203.0.113.0/24`: what events report. */
  readonly text: string;
  /** A 48-bit number for the prefix (from its SHA-256), to seal with the record. */
  readonly id: number;
}

/** The client's network at the given granularity, or undefined when the address is none. */
export function networkOf(address: unknown, bits: { ipv4: number; ipv6: number }): NetworkPrefix | undefined {
  const bytes = parseAddress(address);
  if (!bytes) return undefined;
  const width = bytes.length === 4 ? bits.ipv4 : bits.ipv6;
  const text = prefixText(maskTo(bytes, width), width);
  const digest = sha256(text);
  // Six bytes of the digest: a safe integer, and the prefix itself is not kept.
  let id = 0;
  for (let i = 0; i < 6; i++) id = id * 256 + digest[i]!;
  return { text, id };
}
