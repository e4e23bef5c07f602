/**
 * The client key of a request's address, for the session-creation limit (creation-limit.ts). The address
 * is the request facts' `clientAddress` (request.ts: a node socket's `remoteAddress`, a Fetch runtime's
 * peer through `load(request, { peerAddress })`, or with `trustProxy` the right-most `X-Forwarded-For`
 * entry, the one your nearest proxy added), the same one the signals use.
 */
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const IPV6 = /^[0-9a-f:.]{2,45}$/;

/**
 * The client's key: an IPv4 address as is (an IPv4-mapped IPv6 address as its IPv4 form), an IPv6
 * address by its /64 (one subscriber's usual allocation, so that rotating through it does not make a
 * new client each time). Undefined for anything else: no address known.
 */
export function clientKeyOf(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  let value = address.trim().toLowerCase();
  if (value.startsWith('[') && value.endsWith(']')) value = value.slice(1, -1);
  const zone = value.indexOf('%');
  if (zone !== -1) value = value.slice(0, zone);
  if (value.startsWith('::ffff:') && IPV4.test(value.slice(7))) value = value.slice(7);
  if (IPV4.test(value)) return value;
  if (!IPV6.test(value) || !value.includes(':')) return undefined;
  const halves = value.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...Array<string>(missing).fill('0'), ...tail];
  if (groups.some((group) => !/^[0-9a-f]{1,4}$/.test(group))) return undefined;
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
