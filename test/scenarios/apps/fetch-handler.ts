import { withSession } from '../../../src/adapters/fetch.ts';
import type { Sessions } from '../../../src/core/sessions.ts';
import type { ScenarioData } from '../suite.ts';
import { errorBody } from './error-body.ts';
import { scenarioRoute } from './routes.ts';

/** The scenario routes as a Fetch handler through latchkey/fetch (no node: imports: workerd runs it). */
export function fetchScenarioHandler(sessions: Sessions<ScenarioData>) {
  return withSession(
    sessions,
    async (request, session) => {
      const url = new URL(request.url);
      const headers = new Headers();
      const body = await scenarioRoute(
        `${request.method} ${url.pathname}`,
        session,
        (name) => url.searchParams.get(name) ?? '',
        () => headers.append('set-cookie', 'app=1; Path=/'),
      );
      if (body === undefined) return new Response('not found', { status: 404 });
      return Response.json(body, { headers });
    },
    { onError: (error) => new Response(errorBody(error), { status: 500 }) },
  );
}
