import type { StartScenarioApp } from '../suite.ts';
import { fetchScenarioHandler } from './fetch-handler.ts';
import { listenFetch } from './serve.ts';

export const startFetchApp: StartScenarioApp = (sessions) => listenFetch(fetchScenarioHandler(sessions));
