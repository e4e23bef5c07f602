import type { ServerResponse } from 'node:http';
import { withSession } from '../../../src/adapters/node.ts';
import type { StartScenarioApp } from '../suite.ts';
import { errorBody, listen } from './serve.ts';

function sendJson(res: ServerResponse, value: unknown): void {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(value));
}

export const startNodeApp: StartScenarioApp = (sessions) =>
  listen(
    withSession(
      sessions,
      async (req, res, session) => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        switch (`${req.method} ${url.pathname}`) {
          case 'GET /read':
            return sendJson(res, { isNew: session.isNew, data: session.data });
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
            res.setHeader('set-cookie', 'app=1; Path=/');
            session.set('two', 'yes');
            break;
          default:
            res.statusCode = 404;
            return res.end('not found');
        }
        sendJson(res, { ok: true });
      },
      {
        onError: (error, _req, res) => {
          res.statusCode = 500;
          res.end(errorBody(error));
        },
      },
    ),
  );
