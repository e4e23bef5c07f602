/**
 * Local development over plain `http://localhost` (checklist #15's one exception). Browsers treat a
 * loopback origin as a secure context and keep `Secure` (and `__Host-`) cookies set over plain HTTP
 * there, so a Secure session cookie may go out on a plain-HTTP request when all of these hold:
 *
 * - NODE_ENV is not `production` (checked once, when the sessions are created);
 * - the Host (or HTTP/2 `:authority`) is a loopback name: `localhost`, `*.localhost` (RFC 6761 §6.3),
 *   an address in 127.0.0.0/8, or `[::1]`;
 * - the connection's peer is a loopback address, as the socket (or the runtime) reports it, never a
 *   header: a remote client can send `Host: localhost`, but it cannot come from 127.0.0.1;
 * - no proxy header (Forwarded, X-Forwarded-*, X-Real-IP, Via) is present: a proxy on the same machine
 *   is a loopback peer relaying someone else's request.
 *
 * Without a known peer (a Fetch `Request` alone, a bare Cookie header) the exception never applies.
 * docs/security-model.md gives the reasoning.
 */

const LOOPBACK_V4 =
  /^127\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Header names a proxy adds; any of them makes a request non-local. */
export const PROXY_HEADERS: readonly string[] = Object.freeze([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-real-ip',
  'via',
]);

/** A Host header value (with or without a port) that names this machine's loopback interface. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (typeof host !== 'string' || host.length === 0 || host.length > 255) return false;
  const value = host.toLowerCase();
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    return end !== -1 && value.slice(1, end) === '::1' && isPortOrNothing(value.slice(end + 1));
  }
  const colon = value.indexOf(':');
  const name = colon === -1 ? value : value.slice(0, colon);
  if (colon !== -1 && !isPortOrNothing(value.slice(colon))) return false;
  if (name === 'localhost' || LOOPBACK_V4.test(name)) return true;
  // *.localhost: letters, digits and hyphens only, so nothing odd passes as a subdomain.
  return name.endsWith('.localhost') && /^([a-z0-9-]+\.)+localhost$/.test(name);
}

function isPortOrNothing(rest: string): boolean {
  return rest === '' || /^:\d{1,5}$/.test(rest);
}

/** A socket's remote address on the loopback interface: 127.0.0.0/8, ::1, or ::ffff:127.x.y.z. */
export function isLoopbackAddress(address: unknown): boolean {
  if (typeof address !== 'string') return false;
  const value = address.toLowerCase();
  if (value === '::1' || value === '0:0:0:0:0:0:0:1') return true;
  return LOOPBACK_V4.test(value.startsWith('::ffff:') ? value.slice(7) : value);
}
