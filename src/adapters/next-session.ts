/**
 * The Session that latchkey/next hands out: the core's session, with `save()` and a read-only mode for
 * Server Components. Internal: not a package entry point.
 */
import type { SessionCookieOptions } from '../core/cookie-overrides.ts';
import type { JsonValue } from '../core/json.ts';
import type { Duration } from '../core/policy.ts';
import type { Session, SessionData } from '../core/session.ts';
import { readOnlyError } from './next-errors.ts';

/** A session from `getSession()`: the usual Session, plus `save()` and whether it can write. */
export interface NextSession<T extends SessionData = Record<string, unknown>> extends Session<T> {
  /**
   * False in a Server Component, where Next forbids setting cookies: every change (set, delete, flash,
   * takeFlash, touch, regenerate, login, destroy, save) then throws ERR_LATCHKEY_STATE saying that
   * writes belong in Server Actions and Route Handlers.
   */
  readonly writable: boolean;
  /**
   * Write this request's changes: the store (store mode) and the session cookie through `cookies().set`.
   * Call it after `set`, `delete`, `flash`, `takeFlash` or `touch`; `login`, `regenerate` and `destroy`
   * save by themselves, since their effect on the store is immediate and the cookie must follow.
   * Saving again after more changes writes those too; a save with nothing changed writes nothing.
   */
  save(): Promise<void>;
}

/** Delegates every read to the core's session; changes throw when the session is read-only. */
export class NextSessionImpl<T extends SessionData> implements NextSession<T> {
  readonly #session: Session<T>;
  readonly #commit: () => Promise<void>;
  readonly writable: boolean;

  constructor(session: Session<T>, writable: boolean, commit: () => Promise<void>) {
    this.#session = session;
    this.writable = writable;
    this.#commit = commit;
  }

  #assertWritable(method: string): void {
    if (!this.writable) throw readOnlyError(`session.${method}()`);
  }

  get isNew(): boolean {
    return this.#session.isNew;
  }
  get data(): Partial<T> {
    return this.#session.data;
  }
  get userId(): string | undefined {
    return this.#session.userId;
  }
  get createdAt(): number {
    return this.#session.createdAt;
  }
  get lastActiveAt(): number {
    return this.#session.lastActiveAt;
  }
  get absoluteDeadline(): number {
    return this.#session.absoluteDeadline;
  }
  get idleDeadline(): number {
    return this.#session.idleDeadline;
  }
  get authenticatedAt(): number | undefined {
    return this.#session.authenticatedAt;
  }
  authenticatedWithin(maxAge: Duration): boolean {
    return this.#session.authenticatedWithin(maxAge);
  }
  get<K extends keyof T & string>(key: K): T[K] | undefined {
    return this.#session.get(key);
  }
  has(key: keyof T & string): boolean {
    return this.#session.has(key);
  }

  set<K extends keyof T & string>(key: K, value: T[K]): void {
    this.#assertWritable('set');
    this.#session.set(key, value);
  }
  delete(key: keyof T & string): void {
    this.#assertWritable('delete');
    this.#session.delete(key);
  }
  flash(key: string, value: JsonValue): void {
    this.#assertWritable('flash');
    this.#session.flash(key, value);
  }
  /** Reading a flash removes it, which is a write: a Server Component cannot do it. */
  takeFlash<V extends JsonValue = JsonValue>(key: string): V | undefined {
    this.#assertWritable('takeFlash');
    return this.#session.takeFlash<V>(key);
  }
  touch(): void {
    this.#assertWritable('touch');
    this.#session.touch();
  }
  /** Reading the options is allowed anywhere; changing them is a write. */
  cookieOptions(changes?: SessionCookieOptions): Readonly<SessionCookieOptions> {
    if (changes !== undefined) this.#assertWritable('cookieOptions');
    return this.#session.cookieOptions(changes);
  }

  async regenerate(): Promise<void> {
    this.#assertWritable('regenerate');
    await this.#session.regenerate();
    await this.#commit();
  }
  async login(userId: string): Promise<void> {
    this.#assertWritable('login');
    await this.#session.login(userId);
    await this.#commit();
  }
  async destroy(): Promise<void> {
    this.#assertWritable('destroy');
    await this.#session.destroy();
    await this.#commit();
  }
  async save(): Promise<void> {
    this.#assertWritable('save');
    await this.#commit();
  }
}
