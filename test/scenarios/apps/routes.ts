import type { Session } from '../../../src/core/session.ts';
import type { ScenarioData } from '../suite.ts';

/**
 * The scenario routes (see suite.ts) for the apps that route by hand (fetch, node, koa): runs
 * `route` (`METHOD /path`) on the session. `param` reads a query parameter; `setAppCookie` sets the
 * app's own cookie `app=1; Path=/` through the framework. Resolves with the JSON body to answer, or
 * undefined for an unknown route (404).
 */
export async function scenarioRoute(
  route: string,
  session: Session<ScenarioData>,
  param: (name: string) => string,
  setAppCookie: () => void,
): Promise<object | undefined> {
  switch (route) {
    case 'GET /read':
      return { isNew: session.isNew, data: session.data };
    case 'POST /set':
      session.set(param('key'), param('value'));
      break;
    case 'POST /login':
      await session.login(param('user'));
      break;
    case 'POST /regenerate':
      await session.regenerate();
      break;
    case 'POST /destroy':
      await session.destroy();
      break;
    case 'POST /big':
      session.set('big', 'x'.repeat(200_000));
      break;
    case 'POST /two-cookies':
      setAppCookie();
      session.set('two', 'yes');
      break;
    default:
      return undefined;
  }
  return { ok: true };
}
