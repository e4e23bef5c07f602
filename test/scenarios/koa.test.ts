import { startKoaApp } from './apps/koa.ts';
import { describeAdapterScenarios } from './suite.ts';

describeAdapterScenarios('koa', startKoaApp);
