import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  createSessions,
  type Duration,
  type Inspection,
  type SessionsOptions,
  type TimeoutPreset,
} from '../core/index.ts';
import { generateKeyLine, parseKeyring } from '../crypto/keyring.ts';
import { LatchkeyError } from '../errors.ts';
import { createProgress, type ProgressSink } from './progress.ts';
import { openStore } from './store-url.ts';

const HELP = `latchkey: encrypted, hardened web sessions

Usage:
  latchkey --version                   print the version
  latchkey keygen [--kid ID]           print a new key line for LATCHKEY_KEYS
  latchkey keys rotate [--kid ID]      print LATCHKEY_KEYS with a new key first (old keys still open);
                                      the default id is today's date, suffixed b, c… if taken
  latchkey inspect <value> [options]   open a session cookie with the keys in LATCHKEY_KEYS
  latchkey sessions list --user ID --store URL     a user's live sessions (store mode)
  latchkey sessions revoke --user ID --store URL   sign a user out everywhere
  latchkey sessions revoke --user ID --revocation URL (--preset P | --absolute D) [--skew D]
                                      cookie mode: refuse the user's sessions signed in until now
  latchkey sessions purge --store URL              delete expired sessions, with progress
  latchkey migrate --store URL                     create the store's tables and indexes
  latchkey migrate-store --from URL --to URL [options]
                                      move a connect-redis / connect-pg-simple store (express-session)
                                      offline into a Latchkey store, with progress; resumable

Store URLs: file:<dir>, sqlite:<path>, redis://host:port, redis+cluster://h1:p1,h2:p2,
postgres://user@host/db, mysql://user@host/db (MariaDB too); ?table=NAME for SQL stores.

inspect options:
  --name NAME        the cookie name the value was sealed for (default __Host-lk)
  --preset P         aal1 | aal2 | aal3 (default aal2), or:
  --idle DURATION    idle timeout, e.g. 30m    --absolute DURATION  absolute timeout, e.g. 12h
  --store URL        store mode: <value> is the token from the cookie; its record is read (not changed)
  --json             print JSON

<value> is the cookie's value, or a whole Cookie header (for a session spread over several cookies).
Exit status: 0 a live session; 1 the value does not open or has expired; 2 a usage or key error.

migrate-store options (keys: LATCHKEY_KEYS, the keys the app's migratedStore() opens them with):
  --from URL         the old store: redis://host:port (connect-redis) or postgres://user@host/db
                     (connect-pg-simple); it is only read
  --prefix P         connect-redis's prefix (default sess:)   --table T  connect-pg-simple's table,
                     optionally schema.table (default session)
  --to URL           the Latchkey store to write to (a store URL as above; run migrate on it first)
  --batch N          records per batch (default 500)          --ttl SECONDS  lifetime of a record
                     with no expiry at all (default 86400, connect-redis's)
  --resume FILE      save the position after every batch and start from it when FILE exists: run the
                     same command again after an interrupt (Ctrl-C saves and stops; exit 130)
  --dry-run          count what would move; write nothing
Records already moved are not written twice (those changed since are updated, those already used by
their user never); expired ones are skipped. The app then reads them with
expressSession({ secret, store: migratedStore({ store }), destroyOld: true }) from latchkey/legacy
(docs/migrate-from-express-session.md).

sessions revoke --revocation: the app's revocation store (createSessions({ revocation })), with the
keys in LATCHKEY_KEYS, and exactly the app's absoluteTimeout (--preset or --absolute, required: the
records are found by it) and clockSkew (--skew, default 30s). Run it on a host with a synced clock.
inspect does not consult a revocation store: a revoked cookie may still show as live.
`;

export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Where progress goes (stderr for the real CLI); without it, plain lines through `err`. */
  progress?: ProgressSink;
  /** Stops a long command (migrate-store) after its current batch; the real CLI uses SIGINT/SIGTERM. */
  signal?: AbortSignal;
}

const processOutput: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  progress: {
    write: (text) => process.stderr.write(text),
    get isTTY() {
      return process.stderr.isTTY === true;
    },
    get columns() {
      return process.stderr.columns;
    },
  },
};

/** Progress as plain lines through `err` (tests, embedders without a terminal). */
const lineSink = (io: Output): ProgressSink => ({
  write: (text) => io.err(text.replace(/\n$/, '')),
  isTTY: false,
});

const iso = (ms: number) => new Date(ms).toISOString();

function describe(
  inspection: Inspection,
  currentKid: string,
  assumed: string | undefined,
): Record<string, unknown> {
  if (inspection.status === 'invalid') {
    const why = {
      malformed: 'malformed: not a Latchkey sealed value (v1 or v2x)',
      unsupported: 'unsupported: a v2x (XChaCha20-Poly1305) value; install sodium-native to open it',
      tampered:
        'tampered: the value does not authenticate under its key (altered, truncated, or sealed for another cookie name)',
      'unknown-key':
        'unknown key: sealed with a key id that is not in LATCHKEY_KEYS (removed or never added)',
      payload: 'bad payload: authenticated, but its contents are not a Latchkey session',
      ambiguous: 'ambiguous: more than one valid session value in the header',
      'unknown-session': 'unknown session: the store holds no record for this token (ended or never made)',
    }[inspection.reason];
    return { status: 'invalid', reason: inspection.reason, message: why };
  }
  const { state } = inspection;
  return {
    status: inspection.status,
    ...(inspection.status === 'expired' ? { expiredBy: inspection.verdict } : {}),
    kid: inspection.kid,
    keyIsCurrent: inspection.kid === currentKid,
    createdAt: iso(state.createdAt),
    lastActiveAt: iso(state.lastActiveAt),
    absoluteDeadline: iso(state.absoluteDeadline),
    expiresAt: iso(inspection.expiresAt),
    ...(assumed === undefined ? {} : { expiresAtAssumes: assumed }),
    userId: state.userId ?? null,
    data: state.data,
    flash: state.flash ?? {},
  };
}

const INSPECT_OPTIONS = {
  name: { type: 'string', default: '__Host-lk' },
  preset: { type: 'string' },
  idle: { type: 'string' },
  absolute: { type: 'string' },
  store: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

/**
 * A cookie value or store token is base64url, so one in 64 starts with `-`: an argument that is not one
 * of the command's options (nor an option's value) is the value, wherever it stands, rather than an
 * unknown option.
 */
function valuesAsPositionals(
  args: string[],
  options: Record<string, { type: 'string' | 'boolean' }>,
): string[] {
  const flags: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      rest.push(...args.slice(i + 1));
      break;
    }
    const name = arg.startsWith('--') ? arg.slice(2).split('=', 1)[0]! : undefined;
    const option = name === undefined ? undefined : options[name];
    if (option === undefined) {
      rest.push(arg);
      continue;
    }
    flags.push(arg);
    if (option.type === 'string' && !arg.includes('=') && i + 1 < args.length) flags.push(args[++i]!);
  }
  return [...flags, '--', ...rest];
}

async function inspect(args: string[], io: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: valuesAsPositionals(args, INSPECT_OPTIONS),
    allowPositionals: true,
    options: INSPECT_OPTIONS,
  });
  const value = positionals[0];
  if (value === undefined || positionals.length > 1) {
    io.err('usage: latchkey inspect <cookie value | store token --store URL> [--name NAME]');
    return 2;
  }
  const keyring = parseKeyring(process.env.LATCHKEY_KEYS);
  const opened = values.store === undefined ? undefined : await openStore(values.store);
  let inspection: Inspection;
  try {
    const sessions = createSessions({
      keys: keyring,
      cookie: { name: values.name, secure: true },
      ...(opened ? { store: opened.store } : {}),
      ...timeoutOptions(values),
    });
    inspection = await sessions.inspectStored(value);
  } finally {
    await opened?.close();
  }
  // Idle expiry depends on the app's timeouts, which no cookie or record holds: say what was assumed.
  const assumed =
    values.preset === undefined && values.idle === undefined && values.absolute === undefined
      ? "the default preset aal2: pass the app's --preset or --idle/--absolute"
      : undefined;
  const report = describe(inspection, keyring.current.kid, assumed);
  if (values.json) {
    io.out(JSON.stringify(report, null, 2));
  } else {
    for (const [key, field] of Object.entries(report)) {
      const shown =
        typeof field === 'object' && field !== null ? JSON.stringify(field, null, 2) : String(field);
      io.out(`${key.padEnd(17)} ${shown}`);
    }
  }
  return inspection.status === 'valid' ? 0 : 1;
}

async function storeCommand(command: string, args: string[], io: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      user: { type: 'string' },
      store: { type: 'string' },
      revocation: { type: 'string' },
      preset: { type: 'string' },
      idle: { type: 'string' },
      absolute: { type: 'string' },
      skew: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const action = command === 'migrate' ? 'migrate' : positionals[0];
  if (values.revocation !== undefined) {
    const timeouts = values.preset !== undefined || values.absolute !== undefined;
    if (action !== 'revoke' || !values.user || values.store !== undefined || !timeouts) {
      io.err(
        "usage: latchkey sessions revoke --user ID --revocation URL (--preset P | --absolute D) [--skew D]: the app's timeouts",
      );
      return 2;
    }
    return revokeCookieSessions(values.user, values.revocation, values, io);
  }
  const needsUser = action === 'list' || action === 'revoke';
  if (
    !values.store ||
    !['list', 'revoke', 'purge', 'migrate'].includes(action ?? '') ||
    (needsUser && !values.user)
  ) {
    io.err(
      'usage: latchkey sessions list|revoke --user ID --store URL | sessions purge --store URL | migrate --store URL',
    );
    return 2;
  }
  const opened = await openStore(values.store, { create: action === 'migrate' });
  try {
    switch (action) {
      case 'list': {
        const sessions = await opened.store.listByUser(values.user!);
        if (values.json) {
          io.out(
            JSON.stringify(
              sessions.map(({ storeKey, ...meta }) => ({ id: storeKey, ...meta })),
              null,
              2,
            ),
          );
        } else {
          io.out(`${sessions.length} live session(s) for ${values.user}`);
          for (const meta of sessions) {
            io.out(
              `${meta.storeKey}  created ${iso(meta.createdAt)}  last seen ${iso(meta.lastSeenAt)}  ` +
                `expires ${iso(meta.expiresAt)}  ${meta.label ?? ''}`.trimEnd(),
            );
          }
        }
        return 0;
      }
      case 'revoke':
        io.out(`revoked ${await opened.store.deleteByUser(values.user!)} session(s) of ${values.user}`);
        return 0;
      case 'purge': {
        const progress = createProgress(io.progress ?? lineSink(io), 'purge');
        const purged = await opened.purge((count, scanned, total) =>
          scanned === undefined
            ? progress.update(count, undefined, 'purged')
            : progress.update(scanned, total, `scanned, ${count.toLocaleString('en-US')} purged`),
        );
        progress.finish();
        io.out(`purged ${purged} expired session(s)`);
        return 0;
      }
      default:
        io.out(await opened.migrate());
        return 0;
    }
  } finally {
    await opened.close();
  }
}

async function migrateStoreCommand(args: string[], io: Output): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      from: { type: 'string' },
      prefix: { type: 'string' },
      table: { type: 'string' },
      to: { type: 'string' },
      batch: { type: 'string' },
      ttl: { type: 'string' },
      resume: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (!values.from || !values.to) {
    io.err(
      'usage: latchkey migrate-store --from redis://…|postgres://… --to STORE_URL [--prefix P | --table T] [--batch N] [--resume FILE] [--dry-run]',
    );
    return 2;
  }
  const whole = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    if (!/^\d{1,9}$/.test(text))
      throw new LatchkeyError('ERR_LATCHKEY_CONFIG', `${flag} must be a whole number`);
    return Number(text);
  };
  const batch = whole('--batch', values.batch);
  const ttl = whole('--ttl', values.ttl);
  const keyring = parseKeyring(process.env.LATCHKEY_KEYS);
  const { migrateStore } = await import('./migrate-store.ts');
  const target = await openStore(values.to);
  // Ctrl-C (or a TERM) ends the batch in progress, saves the checkpoint, and stops.
  const controller = io.signal === undefined ? new AbortController() : undefined;
  const stop = () => controller?.abort();
  if (controller !== undefined) {
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
  const dryRun = values['dry-run'] === true;
  const progress = createProgress(
    io.progress ?? lineSink(io),
    dryRun ? 'migrate-store (dry run)' : 'migrate-store',
  );
  try {
    const result = await migrateStore({
      from: values.from,
      prefix: values.prefix,
      table: values.table,
      target: target.store,
      keyring,
      dryRun,
      batch,
      ttl,
      resume: values.resume,
      signal: io.signal ?? controller?.signal,
      onProgress: (counts, total) =>
        progress.update(
          counts.scanned,
          total,
          `${counts.converted.toLocaleString('en-US')} ${dryRun ? 'to move' : 'moved'}, ${counts.already.toLocaleString('en-US')} already, ${counts.expired.toLocaleString('en-US')} expired`,
        ),
    });
    progress.finish();
    const { counts } = result;
    if (values.json) {
      io.out(JSON.stringify({ ...counts, complete: result.complete, dryRun }));
    } else if (result.alreadyComplete) {
      io.out('nothing to do: the --resume file says an earlier run finished (delete it to scan again)');
    } else {
      io.out(
        `${dryRun ? 'would move' : 'moved'} ${counts.converted} session(s); ${counts.updated} ${dryRun ? 'to update' : 'updated'} ` +
          `(changed since an earlier run), ${counts.already} already moved, ${counts.expired} expired (skipped), ` +
          `${counts.unreadable} unreadable (skipped), ${counts.scanned} scanned`,
      );
    }
    if (!result.complete) {
      io.err(
        values.resume === undefined
          ? 'interrupted: run the same command again (moved records are skipped), or add --resume FILE'
          : `interrupted: the position is saved; run the same command again to go on`,
      );
      return 130;
    }
    return 0;
  } finally {
    if (controller !== undefined) {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    await target.close();
  }
}

interface Timeouts {
  preset?: string | undefined;
  idle?: string | undefined;
  absolute?: string | undefined;
  skew?: string | undefined;
}

/** The --preset, --idle, --absolute and --skew flags as createSessions options (it checks them). */
function timeoutOptions(flags: Timeouts): SessionsOptions {
  return {
    preset: flags.preset as TimeoutPreset | undefined,
    idleTimeout: flags.idle as Duration | undefined,
    absoluteTimeout: flags.absolute as Duration | undefined,
    clockSkew: flags.skew as Duration | undefined,
  };
}

/** Cookie mode: raise the user's not-before time in the app's revocation store (checklist #41). */
async function revokeCookieSessions(
  userId: string,
  url: string,
  timeouts: Timeouts,
  io: Output,
): Promise<number> {
  const keyring = parseKeyring(process.env.LATCHKEY_KEYS);
  const opened = await openStore(url);
  try {
    const sessions = createSessions({
      keys: keyring,
      revocation: opened.store,
      ...timeoutOptions(timeouts),
    });
    const before = Date.now();
    await sessions.revokeUserSessions(userId);
    io.out(`revoked every cookie-mode session of ${userId} signed in until ${iso(before)}`);
    return 0;
  } finally {
    await opened.close();
  }
}

/**
 * The default key id is the date (`k20261207`); a second key made the same day gets `k20261207b`, then
 * `…c`, so `keys rotate` works on the day of `keygen` without a `--kid`.
 */
function freeDatedKid(taken: (kid: string) => boolean): string {
  const dated = `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`;
  if (!taken(dated)) return dated;
  for (const suffix of 'bcdefghijklmnopqrstuvwxyz') {
    if (!taken(dated + suffix)) return dated + suffix;
  }
  throw new LatchkeyError('ERR_LATCHKEY_KEY', 'every dated key id for today is in use: pass --kid ID');
}

/** The package's version, read from its package.json (two levels up from src/cli and dist/cli). */
function version(): string {
  const file = new URL('../../package.json', import.meta.url);
  const { version: v } = JSON.parse(readFileSync(file, 'utf8')) as { version: string };
  return `latchkey ${v}`;
}

/** Run the CLI with `args` (without `node` and the script); resolves to the exit status. */
export async function run(args: readonly string[], io: Output = processOutput): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case 'keygen': {
        const { values } = parseArgs({ args: rest, options: { kid: { type: 'string' } } });
        io.out(generateKeyLine(values.kid));
        return 0;
      }
      case 'keys': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { kid: { type: 'string' } },
        });
        if (positionals[0] !== 'rotate') {
          io.err('usage: latchkey keys rotate [--kid ID]');
          return 2;
        }
        const existing = process.env.LATCHKEY_KEYS ?? '';
        const ring = parseKeyring(existing);
        const line = generateKeyLine(values.kid ?? freeDatedKid((kid) => ring.get(kid) !== undefined));
        const kid = line.slice(0, line.indexOf(':'));
        if (ring.get(kid)) {
          throw new LatchkeyError(
            'ERR_LATCHKEY_KEY',
            `key id '${kid}' is already in LATCHKEY_KEYS: choose another with --kid ID`,
          );
        }
        io.out([line, ...existing.split(',').map((entry) => entry.trim())].join(','));
        return 0;
      }
      case 'inspect':
        return await inspect(rest, io);
      case 'migrate-store':
        return await migrateStoreCommand(rest, io);
      case 'sessions':
      case 'migrate':
        return await storeCommand(command, rest, io);
      case '--version':
      case '-v':
      case 'version':
        io.out(version());
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(HELP);
        return command === undefined ? 2 : 0;
      default:
        io.err(`latchkey: unknown command '${command}'\n\n${HELP}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof LatchkeyError) {
      io.err(`latchkey: ${error.code}: ${error.message}`);
      return 2;
    }
    if (error instanceof TypeError) {
      // A flag's value the command cannot take (a bad --kid, say): the message, not a stack trace.
      io.err(`latchkey: ${error.message}`);
      return 2;
    }
    throw error;
  }
}
