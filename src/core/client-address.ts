/**
 * The client key of a request's address, for the session-creation limit (creation-limit.ts). The address
 * is the request facts' `clientAddress` (request.ts: a node socket's `remoteAddress`, a Fetch runtime's
 * peer through `load(request, { peerAddress })`, or with `trustProxy` the right-most `X-Forwarded-For`
 * entry, the one your nearest proxy added), the same one the signals use, and parsed by the same parser
 * (network.ts's parseAddress): one reading of an address for both.
 */
import { parseAddress } from './network.ts';

/**
 * The client's key: an IPv4 address as is (an IPv4-mapped IPv6 address as its IPv4 form), an IPv6
 * address by its /64 (one subscriber's usual allocation, so that rotating through it does not make a
 * new client each time). Undefined for anything else: no address known.
 */
export function clientKeyOf(address: string | undefined): string | undefined {
  const bytes = parseAddress(address);
  if (bytes === undefined) return undefined;
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return `${groups.join(':')}::/64`;
}
