/**
 * A Fetch handler's connection peer, where the runtime passes it beside the `Request`: to recognise
 * local development over `http://localhost` (src/core/loopback.ts), and as the client that
 * `creationLimit` counts (src/core/client-address.ts). Never read from a header. A runtime that passes none (Workers, Next.js, a test calling the handler) gets no exception.
 */
import type { LoadOptions } from '../core/request.ts';

interface BunServer {
  requestIP(request: Request): { address?: unknown } | null;
}
interface DenoServeInfo {
  remoteAddr?: { hostname?: unknown };
}
interface NodeServerBindings {
  incoming?: { socket?: { remoteAddress?: unknown } };
}

/**
 * The remote address from the handler's second argument: Bun.serve's `server.requestIP(request)`,
 * Deno.serve's `info.remoteAddr.hostname`, or @hono/node-server's `incoming.socket.remoteAddress`.
 */
export function peerAddressOf(request: Request, extra: unknown): string | undefined {
  if (extra === null || typeof extra !== 'object') return undefined;
  let address: unknown;
  try {
    if (typeof (extra as BunServer).requestIP === 'function') {
      address = (extra as BunServer).requestIP(request)?.address;
    } else {
      address =
        (extra as DenoServeInfo).remoteAddr?.hostname ??
        (extra as NodeServerBindings).incoming?.socket?.remoteAddress;
    }
  } catch {
    return undefined; // a requestIP that refuses this request: no peer known
  }
  return typeof address === 'string' ? address : undefined;
}

/** `load()` options carrying the peer, or undefined when the runtime passes none. */
export function peerLoadOptions(request: Request, extra: unknown): LoadOptions | undefined {
  const peerAddress = peerAddressOf(request, extra);
  return peerAddress === undefined ? undefined : { peerAddress };
}
