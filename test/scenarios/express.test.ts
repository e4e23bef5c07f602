import { expressApp } from './apps/express.ts';
import { describeAdapterScenarios } from './suite.ts';

describeAdapterScenarios('express 5', expressApp(5));
describeAdapterScenarios('express 4', expressApp(4));
