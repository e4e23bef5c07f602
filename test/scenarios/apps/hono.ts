import type { StartScenarioApp } from '../suite.ts';
import { honoScenarioApp } from './hono-handler.ts';
import { listenFetch } from './serve.ts';

export const startHonoApp: StartScenarioApp = (sessions) => listenFetch(honoScenarioApp(sessions).fetch);
