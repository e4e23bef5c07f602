import { startNodeApp } from './apps/node.ts';
import { describeAdapterScenarios } from './suite.ts';

describeAdapterScenarios('node', startNodeApp);
