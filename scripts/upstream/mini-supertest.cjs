'use strict';
// The part of supertest's API that expressjs/session's suite uses: request(serverOrApp).get/put(path),
// .set(name, value), .agent(agent), .expect(status[, body][, cb]), .expect(body[, cb]),
// .expect(field, value[, cb]), .expect(fn), .end(cb), with res.statusCode, res.headers and res.text.
// A server that is not listening is started on a loopback port for the request and closed after it.
// Written for scripts/upstream/express-session.mjs; not a general HTTP test client.

const http = require('node:http');
const https = require('node:https');
const { inspect } = require('node:util');

class Test {
  constructor(app, method, path) {
    this.app = typeof app === 'function' ? http.createServer(app) : app;
    this.method = method;
    this.path = path;
    this.headers = {};
    this.expectations = [];
    this.httpAgent = undefined;
    this.started = false;
  }

  set(name, value) {
    this.headers[name] = value;
    return this;
  }

  agent(agent) {
    this.httpAgent = agent;
    return this;
  }

  expect(a, b, c) {
    if (typeof a === 'function') {
      this.expectations.push(a);
      return this;
    }
    if (typeof a === 'number') {
      this.expectations.push(statusIs(a));
      if (typeof b === 'function') return this.end(b);
      if (b !== undefined) this.expectations.push(bodyIs(b));
      if (typeof c === 'function') return this.end(c);
      return this;
    }
    if (typeof a === 'string' && (typeof b === 'string' || b instanceof RegExp)) {
      this.expectations.push(headerIs(a, b));
      if (typeof c === 'function') return this.end(c);
      return this;
    }
    this.expectations.push(bodyIs(a));
    if (typeof b === 'function') return this.end(b);
    return this;
  }

  end(callback = () => {}) {
    if (this.started) return this;
    this.started = true;
    const server = this.app;
    const startedHere = !server.address();
    if (startedHere) server.listen(0, '127.0.0.1');
    const send = () => {
      const { port } = server.address();
      const secure = server instanceof https.Server;
      const client = secure ? https : http;
      const req = client.request(
        {
          host: '127.0.0.1',
          port,
          method: this.method,
          path: this.path,
          headers: this.headers,
          agent: this.httpAgent,
        },
        (response) => {
          const chunks = [];
          response.on('data', (chunk) => chunks.push(chunk));
          response.on('end', () => {
            const res = {
              statusCode: response.statusCode,
              status: response.statusCode,
              headers: response.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            };
            finish(undefined, res);
          });
          response.on('error', (error) => finish(error));
        },
      );
      req.on('error', (error) => finish(error));
      req.end();
    };
    const finish = (error, res) => {
      const done = () => {
        if (error) return callback(error, res);
        for (const check of this.expectations) {
          try {
            const failure = check(res);
            if (failure instanceof Error) return callback(failure, res);
          } catch (thrown) {
            return callback(thrown, res);
          }
        }
        return callback(null, res);
      };
      if (startedHere) server.close(done);
      else done();
    };
    if (server.address()) send();
    else server.once('listening', send);
    return this;
  }
}

function statusIs(expected) {
  return (res) => {
    if (res.statusCode !== expected) {
      return new Error(
        `expected ${expected}, got ${res.statusCode} (body ${inspect(res.text.slice(0, 200))})`,
      );
    }
  };
}

function bodyIs(expected) {
  return (res) => {
    if (expected instanceof RegExp) {
      if (!expected.test(res.text))
        return new Error(`expected body ${expected} to match ${inspect(res.text)}`);
    } else if (res.text !== expected) {
      return new Error(`expected ${inspect(expected)} response body, got ${inspect(res.text)}`);
    }
  };
}

function headerIs(field, expected) {
  return (res) => {
    const actual = res.headers[field.toLowerCase()];
    if (actual === undefined) return new Error(`expected "${field}" header field`);
    const ok = expected instanceof RegExp ? expected.test(actual) : actual === expected;
    if (!ok) return new Error(`expected "${field}" of ${inspect(expected)}, got ${inspect(actual)}`);
  };
}

function request(app) {
  return {
    get: (path) => new Test(app, 'GET', path),
    put: (path) => new Test(app, 'PUT', path),
    post: (path) => new Test(app, 'POST', path),
  };
}

/** The `after` package's contract: call back after `count` calls, or at once with the first error. */
function after(count, callback) {
  let left = count;
  let failed = false;
  return (error) => {
    if (failed) return;
    if (error) {
      failed = true;
      callback(error);
      return;
    }
    left -= 1;
    if (left === 0) callback(null);
  };
}

module.exports = { request, after };
