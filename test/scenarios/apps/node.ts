import type { ServerResponse } from 'node:http';
import { withSession } from '../../../src/adapters/node.ts';
import type { StartScenarioApp } from '../suite.ts';
import { scenarioRoute } from './routes.ts';
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
        const body = await scenarioRoute(
          `${req.method} ${url.pathname}`,
          session,
          (name) => url.searchParams.get(name) ?? '',
          () => res.setHeader('set-cookie', 'app=1; Path=/'),
        );
        if (body === undefined) {
          res.statusCode = 404;
          return res.end('not found');
        }
        sendJson(res, body);
      },
      {
        onError: (error, _req, res) => {
          res.statusCode = 500;
          res.end(errorBody(error));
        },
      },
    ),
  );
