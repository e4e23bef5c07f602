'use strict';
// The part of mocha's BDD interface that expressjs/session's suite uses (describe, it, before, after,
// beforeEach, afterEach, `this` shared from a suite's hooks to its tests, done callbacks, promises, a
// 2-second timeout), so that the suite runs with no test framework installed. Written for
// scripts/upstream/express-session.mjs; not a general test runner.

const TIMEOUT_MS = 2000;

function newSuite(title, parent) {
  return {
    title,
    parent,
    ctx: Object.create(parent ? parent.ctx : null),
    children: [], // suites and tests, in order
    before: [],
    after: [],
    beforeEach: [],
    afterEach: [],
  };
}

const root = newSuite('', undefined);
let current = root;

function fullTitle(node) {
  const parts = [];
  for (let suite = node.parent; suite; suite = suite.parent) if (suite.title) parts.unshift(suite.title);
  parts.push(node.title);
  return parts.join(' ');
}

/** Run fn with mocha's calling conventions: done callback (fn.length > 0), promise or synchronous. */
function runFn(fn, ctx) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      process.removeListener('uncaughtException', onUncaught);
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else resolve();
    };
    const onUncaught = (error) => finish(error);
    const timer = setTimeout(() => finish(new Error(`Timeout of ${TIMEOUT_MS}ms exceeded`)), TIMEOUT_MS);
    process.on('uncaughtException', onUncaught);
    try {
      if (fn.length > 0) {
        fn.call(ctx, (error) => finish(error));
      } else {
        const result = fn.call(ctx);
        if (result && typeof result.then === 'function') result.then(() => finish(), finish);
        else finish();
      }
    } catch (error) {
      finish(error);
    }
  });
}

const api = {
  describe(title, body) {
    const suite = newSuite(title, current);
    current.children.push({ suite });
    const previous = current;
    current = suite;
    try {
      body.call(suite.ctx);
    } finally {
      current = previous;
    }
  },
  it(title, fn) {
    current.children.push({ test: { title, fn, parent: current } });
  },
  before(fn) {
    current.before.push(fn);
  },
  after(fn) {
    current.after.push(fn);
  },
  beforeEach(fn) {
    current.beforeEach.push(fn);
  },
  afterEach(fn) {
    current.afterEach.push(fn);
  },
};

function eachHooks(suite, kind) {
  const chain = [];
  for (let at = suite; at; at = at.parent) chain.unshift(at);
  const hooks = chain.flatMap((at) => at[kind]);
  return kind === 'afterEach' ? hooks.reverse() : hooks;
}

async function runSuite(suite, results) {
  let hookError;
  for (const hook of suite.before) {
    try {
      await runFn(hook, suite.ctx);
    } catch (error) {
      hookError = error;
      break;
    }
  }
  for (const child of suite.children) {
    if (child.suite) {
      if (hookError) markFailed(child.suite, hookError, results);
      else await runSuite(child.suite, results);
      continue;
    }
    const test = child.test;
    const title = fullTitle(test);
    if (hookError) {
      results.push({ title, error: hookError });
      continue;
    }
    let error;
    try {
      for (const hook of eachHooks(suite, 'beforeEach')) await runFn(hook, suite.ctx);
      await runFn(test.fn, Object.create(suite.ctx));
      for (const hook of eachHooks(suite, 'afterEach')) await runFn(hook, suite.ctx);
    } catch (caught) {
      error = caught;
    }
    results.push({ title, error });
  }
  for (const hook of suite.after) {
    try {
      await runFn(hook, suite.ctx);
    } catch {
      // an after hook's failure is not a test's
    }
  }
}

function markFailed(suite, error, results) {
  for (const child of suite.children) {
    if (child.suite) markFailed(child.suite, error, results);
    else results.push({ title: fullTitle(child.test), error });
  }
}

/** Run everything registered so far; resolves to [{ title, error? }] in order. */
async function run() {
  const results = [];
  await runSuite(root, results);
  return results;
}

module.exports = { api, run };
