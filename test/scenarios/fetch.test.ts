import { startFetchApp } from './apps/fetch.ts';
import { describeAdapterScenarios } from './suite.ts';

describeAdapterScenarios('fetch', startFetchApp);
