#!/usr/bin/env node
// Runs expressjs/session's own test suite (test/session.js and test/cookie.js) against latchkey/express,
// through a shim that changes only what docs/migrate-from-express-session.md tells an app to change,
// and prints how many cases pass. It downloads nothing: give it a checkout of expressjs/session (a
// directory holding test/session.js, test/cookie.js, test/support/ and test/fixtures/server.{crt,key}).
//
//   node scripts/upstream/express-session.mjs <checkout> [--list] [--grep <text>]
//
// The checkout's own index.js is never loaded: `require('../')` and `require('../session/cookie')` in
// the suite resolve to the shim below, and `supertest`, `after` and mocha's globals to the small
// stand-ins beside this file (scripts/upstream/mini-*.cjs), so no test framework needs installing.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const checkout = args.find((arg) => !arg.startsWith('--') && args[args.indexOf(arg) - 1] !== '--grep');
const list = args.includes('--list');
const grep = args.includes('--grep') ? args[args.indexOf('--grep') + 1] : undefined;
if (checkout === undefined || !existsSync(join(checkout, 'test', 'session.js'))) {
  console.error('usage: node scripts/upstream/express-session.mjs <expressjs/session checkout> [--list]');
  process.exit(2);
}
const root = resolve(checkout);

// Latchkey's TypeScript sources, as the repository's tests load them (`latchkey/*` → src/).
await import('../register-src.mjs');
const latchkey = await import('latchkey/express');

// The migration guide's steps, and nothing else:
// 1. the import: `session` is latchkey/express (its Store, MemoryStore, Session and Cookie exports too);
// 2. keys in the environment: LATCHKEY_KEYS from `npx latchkey keygen` (`secret` stays, for old cookies);
// 3. the cookie name kept: `name: 'connect.sid'` where the app relied on express-session's default;
// 4. express-session's old defaults said out loud where the app relied on them: `resave: true` and
//    `saveUninitialized: true` (Latchkey's defaults are false).
process.env.LATCHKEY_KEYS = `u1:${randomBytes(32).toString('base64url')}`;
function session(options) {
  const given = options ?? {};
  const named = given.name !== undefined || given.key !== undefined;
  return latchkey.default({
    ...(named ? {} : { name: 'connect.sid' }),
    ...(given.resave === undefined ? { resave: true } : {}),
    ...(given.saveUninitialized === undefined ? { saveUninitialized: true } : {}),
    ...given,
  });
}
Object.assign(session, {
  Store: latchkey.Store,
  MemoryStore: latchkey.MemoryStore,
  Session: latchkey.Session,
  Cookie: latchkey.Cookie,
});

const require = createRequire(import.meta.url);
const mocha = require('./mini-mocha.cjs');
const supertest = require('./mini-supertest.cjs');
const stand = {
  supertest: supertest.request,
  after: supertest.after,
  [join(root, 'index.js')]: session,
  [join(root, 'session', 'cookie.js')]: latchkey.Cookie,
};
const originalResolve = Module._resolveFilename;
Module._resolveFilename = function resolveForSuite(request, parent, ...rest) {
  if (parent?.filename?.startsWith(root)) {
    if (request === 'supertest' || request === 'after') return `upstream-stand-in:${request}`;
    if (request.startsWith('.')) {
      const target = resolve(dirname(parent.filename), request);
      for (const candidate of [target, `${target}.js`, join(target, 'index.js')]) {
        if (stand[candidate] !== undefined) return `upstream-stand-in:${candidate}`;
      }
    } else if (!request.startsWith('node:') && !Module.isBuiltin(request)) {
      // express, cookie-parser: this repository's devDependencies.
      return originalResolve.call(
        this,
        request,
        { ...parent, paths: Module._nodeModulePaths(here) },
        ...rest,
      );
    }
  }
  return originalResolve.call(this, request, parent, ...rest);
};
for (const [name, value] of Object.entries(stand)) {
  const id = `upstream-stand-in:${name}`;
  const module = new Module(id);
  module.exports = value;
  module.loaded = true;
  require.cache[id] = module;
}

Object.assign(globalThis, mocha.api);
const files = ['session.js', 'cookie.js'];
for (const file of files) require(join(root, 'test', file));

// A server 'error' event nobody listens for would end the process; the suite counts it as a failure.
const results = (await mocha.run()).filter((result) => grep === undefined || result.title.includes(grep));
const failed = results.filter((result) => result.error !== undefined);
for (const result of results) {
  if (list || result.error !== undefined) {
    const mark = result.error === undefined ? 'pass' : 'FAIL';
    const why = result.error === undefined ? '' : ` — ${String(result.error.message).split('\n')[0]}`;
    console.log(`${mark}  ${result.title}${why}`);
  }
}
console.log(`${results.length - failed.length}/${results.length} passed`);
process.exit(0);
