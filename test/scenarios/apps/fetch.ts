import { withSession } from '../../../src/adapters/fetch.ts';
import type { StartScenarioApp } from '../suite.ts';
import { scenarioRoute } from './routes.ts';
import { errorBody, listenFetch } from './serve.ts';

export const startFetchApp: StartScenarioApp = (sessions) =>
  listenFetch(
    withSession(
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
    ),
  );
