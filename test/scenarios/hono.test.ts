import { startHonoApp } from './apps/hono.ts';
import { describeAdapterScenarios } from './suite.ts';

describeAdapterScenarios('hono', startHonoApp);
