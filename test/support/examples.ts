/**
 * Run an example app (examples/<name>/server.ts) the way its header says, and talk to it like a
 * browser: for the tests in test/examples (and, for starting the demo, test/demo.test.ts and test/e2e).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CookieJar } from './cookies.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** tsx, with `latchkey/*` resolved to src/ (scripts/register-src.mjs). */
const REGISTER_SRC = fileURLToPath(new URL('../../scripts/register-src.mjs', import.meta.url));
const children: ChildProcess[] = [];

export interface ServerProcess {
  readonly child: ChildProcess;
  /** The URL it printed, without a trailing slash, such as `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
}

/**
 * Start `node --import ./scripts/register-src.mjs <script>` in the repository root, with `env` over this
 * process's environment (an undefined value removes a variable); resolve once its stdout matches
 * `listening`, whose first group is the URL. Rejects if it exits first, or takes over `timeoutMs` (then
 * it is killed).
 */
export async function startServerProcess(
  script: string,
  env: Record<string, string | undefined>,
  listening: RegExp,
  timeoutMs = 30_000,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', REGISTER_SRC, script], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not start in ${timeoutMs / 1000} s:\n${output}`));
    }, timeoutMs);
    const check = () => {
      const match = listening.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(match[1]!.replace(/\/$/, ''));
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code}) before listening:\n${output}`));
    });
  });
  return { child, url, output: () => output };
}

export interface RunningExample {
  /** Such as `http://127.0.0.1:41234`. */
  readonly base: string;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
}

/**
 * Start `node --import ./scripts/register-src.mjs examples/<name>/server.ts` with PORT=0, development
 * mode (no keys, no NODE_ENV) unless `env` says otherwise; resolve once it prints
 * `listening on http://127.0.0.1:<port>` with a real port.
 */
export async function startExample(name: string, env: Record<string, string> = {}): Promise<RunningExample> {
  const example = await startServerProcess(
    `examples/${name}/server.ts`,
    // HOST unset: the default, 127.0.0.1.
    { PORT: '0', LATCHKEY_KEYS: '', NODE_ENV: '', HOST: undefined, ...env },
    /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m,
  );
  children.push(example.child);
  assert.notEqual(new URL(example.url).port, '0', 'the real port is printed');
  return { base: example.url, output: example.output };
}

/** Stop every example this process started, each by its own PID (call it in `after`). */
export function stopExamples(): void {
  for (const child of children.splice(0)) {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
  }
}

export interface RequestInit {
  method?: string;
  form?: Record<string, string>;
  origin?: string;
  /** Send this Cookie header instead of the jar's, and leave the jar as it is. */
  cookie?: string;
}

/** A cookie-keeping client that posts forms and reads the CSRF token from the page. */
export function exampleBrowser(base: string) {
  const jar = new CookieJar();
  const client = {
    jar,
    async request(path: string, init: RequestInit = {}): Promise<Response> {
      const headers: Record<string, string> = {};
      const cookie = init.cookie ?? jar.header();
      if (cookie) headers.cookie = cookie;
      if (init.origin) headers.origin = init.origin;
      const response = await fetch(`${base}${path}`, {
        method: init.method ?? (init.form ? 'POST' : 'GET'),
        headers,
        redirect: 'manual',
        ...(init.form ? { body: new URLSearchParams(init.form) } : {}),
      });
      if (init.cookie === undefined) jar.apply(response.headers.getSetCookie());
      return response;
    },
    /** POST a form. */
    post(path: string, form: Record<string, string>, init: RequestInit = {}): Promise<Response> {
      return client.request(path, { ...init, method: 'POST', form });
    },
    /** Load the page (`/` by default): its HTML and the CSRF token in its forms. */
    async page(path = '/'): Promise<{ html: string; token: string }> {
      const html = await (await client.request(path)).text();
      const token = /name="_csrf" value="([A-Za-z0-9_-]+)"/.exec(html)?.[1];
      assert.ok(token, 'the page carries a CSRF token');
      return { html, token };
    },
    /** A fresh CSRF token from the page. */
    async token(path = '/'): Promise<string> {
      return (await client.page(path)).token;
    },
  };
  return client;
}

/** The example refused a request: 403 with a body matching `reason` (the coded CSRF reason). */
export async function assertRefused(response: Response, reason: RegExp, message?: string): Promise<void> {
  assert.equal(response.status, 403, message);
  assert.match(await response.text(), reason);
}
