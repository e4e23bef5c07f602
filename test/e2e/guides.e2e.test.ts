/**
 * The guides' first examples, pasted as they are (only the port changed), run with keys from
 * `latchkey keygen` and no other option, on http://localhost in Chromium: the visit counter counts, and
 * where the example has a sign-in form (Hono, Koa) a user signs in through it, CSRF token included, and
 * signs out again. What compiles is checked by test/doc-blocks.test.ts; this checks what runs.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { freePort } from '../support/ports.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = join(root, 'test-artifacts', 'guides-e2e');

/** The first ```ts block after `heading` in a Markdown file of the repository. */
function firstBlock(file: string, heading: string): string {
  const text = readFileSync(join(root, file), 'utf8');
  const at = text.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `${file}: ${heading}`);
  const match = /```ts\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(match, `${file}: a ts block under ${heading}`);
  return match[1]!;
}

/**
 * Serves a module's default-exported fetch handler (Hono's `export default app`) on node:http, passing
 * `{ incoming }` as the handler's second argument as @hono/node-server does (the peer address is how
 * Latchkey recognises http://localhost).
 */
function fetchBridge(module: string, port: number): string {
  return `import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import app from './${module}';

createServer(async (req, res) => {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, v);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const request = new Request(\`http://\${req.headers.host}\${req.url}\`, {
    method: req.method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream) : undefined,
    duplex: 'half',
  });
  const response = await app.fetch(request, { incoming: req });
  const out = [];
  for (const [name, value] of response.headers) if (name !== 'set-cookie') out.push([name, value]);
  for (const cookie of response.headers.getSetCookie()) out.push(['set-cookie', cookie]);
  res.writeHead(response.status, out.flat());
  res.end(Buffer.from(await response.arrayBuffer()));
}).listen(${port}, '127.0.0.1');
`;
}

interface Example {
  name: string;
  /** The server's entry file and the files to write, keyed by name in test-artifacts/guides-e2e. */
  files: (port: number) => Record<string, string>;
  entry: string;
  /** Reads the visit count from the page's text. */
  visits: (text: string) => number;
  signIn: boolean;
}

const examples: Example[] = [
  {
    name: 'README: Express',
    entry: 'express.ts',
    files: (port) => ({
      'express.ts': `${firstBlock('README.md', '## Frameworks')}\napp.listen(${port}, '127.0.0.1');\n`,
    }),
    visits: (text) => Number(/views: (\d+)/.exec(text)?.[1]),
    signIn: false,
  },
  {
    name: 'docs/guides/fastify.md',
    entry: 'fastify.ts',
    files: (port) => ({
      'fastify.ts': `${firstBlock('docs/guides/fastify.md', '## Register')}\nawait app.listen({ port: ${port}, host: '127.0.0.1' });\n`,
    }),
    visits: (text) => Number(/"visits":(\d+)/.exec(text)?.[1]),
    signIn: false,
  },
  {
    name: 'docs/guides/hono.md',
    entry: 'hono-server.ts',
    files: (port) => ({
      'hono.ts': firstBlock('docs/guides/hono.md', '## Use'),
      'hono-server.ts': fetchBridge('hono.ts', port),
    }),
    visits: (text) => Number(/Visits: (\d+)/.exec(text)?.[1]),
    signIn: true,
  },
  {
    name: 'docs/guides/koa.md',
    entry: 'koa.ts',
    files: (port) => {
      const code = firstBlock('docs/guides/koa.md', '## Use');
      assert.match(code, /app\.listen\(3000\)/);
      return { 'koa.ts': code.replace('app.listen(3000)', `app.listen(${port}, '127.0.0.1')`) };
    },
    visits: (text) => Number(/Visits: (\d+)/.exec(text)?.[1]),
    signIn: true,
  },
];

let browser: Browser;
let keys: string;

before(async () => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  keys = execFileSync(
    process.execPath,
    ['--import', './scripts/register-src.mjs', 'src/cli/bin.ts', 'keygen', '--kid', 'k1'],
    { cwd: root, encoding: 'utf8' },
  ).trim();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox'],
  });
});
after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Waits until the server accepts connections, so that the browser's first visit is its only one. */
async function waitUntilListening(port: number, child: ChildProcess, output: () => string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) assert.fail(`the server exited (${child.exitCode}):\n${output()}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`the server did not start:\n${output()}`);
}

describe('the guides’ first examples, pasted, on http://localhost in Chromium', () => {
  for (const example of examples) {
    test(`${example.name}: counts visits${example.signIn ? ', signs in and out through its form' : ''}`, async () => {
      const port = await freePort();
      for (const [name, code] of Object.entries(example.files(port))) writeFileSync(join(dir, name), code);
      const child = spawn(
        process.execPath,
        ['--import', './scripts/register-src.mjs', join(dir, example.entry)],
        {
          cwd: root,
          env: { ...process.env, LATCHKEY_KEYS: keys, NODE_ENV: '' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout.on('data', (c) => {
        output += c;
      });
      child.stderr.on('data', (c) => {
        output += c;
      });
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        // Only the page itself: Chromium's favicon request would count a visit too.
        await page.route('**/favicon.ico', (route) => route.fulfill({ status: 404, body: '' }));
        const url = `http://localhost:${port}/`;
        await waitUntilListening(port, child, () => output);
        await page.goto(url);
        const first = (await page.textContent('body')) ?? '';
        assert.equal(example.visits(first), 1, `${first}\n${output}`);
        await page.goto(url);
        assert.equal(example.visits((await page.textContent('body')) ?? ''), 2, output);
        const [cookie] = await context.cookies();
        assert.equal(cookie?.name, '__Host-lk');
        assert.equal(cookie?.secure, true);
        assert.equal(cookie?.httpOnly, true);
        if (!example.signIn) return;
        await page.fill('input[name=user]', 'ada');
        await page.click('form[action="/login"] button');
        await page.waitForURL(url);
        const signedIn = (await page.textContent('body')) ?? '';
        assert.match(signedIn, /Signed in as: ada/, output);
        // Signing in kept the data (login() regenerates the token, not the data).
        assert.ok(example.visits(signedIn) >= 3, signedIn);
        await page.click('form[action="/logout"] button');
        await page.waitForURL(url);
        assert.match((await page.textContent('body')) ?? '', /Signed in as: nobody/, output);
      } finally {
        await context.close();
        child.kill();
      }
    });
  }
});
