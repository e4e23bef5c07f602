/**
 * Helpers for tests that drive the core directly: a store that records its calls, and a browser that
 * keeps a cookie jar across requests.
 */
import type { Session, SessionData, Sessions } from '../../src/core/index.ts';
import type { SessionStore } from '../../src/stores/types.ts';
import { CookieJar } from './cookies.ts';

/** `store` behind a Proxy that records the name of every method called, in order. */
export function countingStore(store: SessionStore): { store: SessionStore; calls: string[] } {
  const calls: string[] = [];
  const counted = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        return value.apply(target, args);
      };
    },
  });
  return { store: counted, calls };
}

/**
 * One browser on `sessions`: `request(act)` loads with the jar's cookies, runs `act`, commits and keeps
 * the Set-Cookie lines; `replay(cookie)` loads a copied Cookie header (what an attacker holds).
 */
export function sessionBrowser<T extends SessionData>(sessions: Sessions<T>) {
  const jar = new CookieJar();
  const request = async (act: (session: Session<T>) => unknown = () => {}): Promise<Session<T>> => {
    const cookie = jar.header();
    const session = await sessions.load({ headers: cookie ? { cookie } : {} });
    await act(session);
    jar.apply(await sessions.commit(session));
    return session;
  };
  const replay = (cookie: string | undefined) => sessions.load({ headers: cookie ? { cookie } : {} });
  return { jar, request, replay };
}
