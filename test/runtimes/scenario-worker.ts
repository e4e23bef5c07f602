// The scenario apps (test/scenarios/apps: latchkey/fetch and latchkey/hono), bundled by
// test/runtimes/scenarios-workerd.test.ts and run inside workerd. The bindings choose the adapter and
// the mode; the sessions are made on the first request with the suite's options, on a clock that
// `POST /__advance?ms=N` moves forward (the suite's fake clock, across the process boundary).
import { createSessions } from 'latchkey';
import { fetchScenarioHandler } from '../scenarios/apps/fetch-handler.ts';
import { honoScenarioApp } from '../scenarios/apps/hono-handler.ts';
import { type ScenarioMode, scenarioSessionsOptions } from '../scenarios/options.ts';

interface Env {
  KEYS: string;
  ADAPTER: 'fetch' | 'hono';
  MODE: ScenarioMode;
}

let offset = 0;
const clock = { now: () => Date.now() + offset };
let handler: ((request: Request) => Promise<Response>) | undefined;

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/__advance') {
      offset += Number(url.searchParams.get('ms'));
      return new Response('ok');
    }
    if (url.pathname === '/__ready') return new Response('ok');
    if (handler === undefined) {
      const sessions = createSessions<Record<string, string>>({
        keys: env.KEYS,
        ...scenarioSessionsOptions(env.MODE, clock),
      });
      const app = env.ADAPTER === 'hono' ? honoScenarioApp(sessions) : undefined;
      handler = app ? async (r) => app.fetch(r) : fetchScenarioHandler(sessions);
    }
    return handler(request);
  },
};
