import { withSession } from '../../../src/adapters/fetch.ts';
import type { StartScenarioApp } from '../suite.ts';
import { errorBody, listenFetch } from './serve.ts';

export const startFetchApp: StartScenarioApp = (sessions) =>
  listenFetch(
    withSession(
      sessions,
      async (request, session) => {
        const url = new URL(request.url);
        const headers = new Headers();
        switch (`${request.method} ${url.pathname}`) {
          case 'GET /read':
            return Response.json({ isNew: session.isNew, data: session.data });
          case 'POST /set':
            session.set(url.searchParams.get('key') ?? '', url.searchParams.get('value') ?? '');
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
            headers.append('set-cookie', 'app=1; Path=/');
            session.set('two', 'yes');
            break;
          default:
            return new Response('not found', { status: 404 });
        }
        return Response.json({ ok: true }, { headers });
      },
      { onError: (error) => new Response(errorBody(error), { status: 500 }) },
    ),
  );
