import { startFastifyApp } from './apps/fastify.ts';
import { describeAdapterScenarios } from './suite.ts';

describeAdapterScenarios('fastify', startFastifyApp);
