/**
 * A minimal cookie jar for tests: it keeps what Set-Cookie lines set and forgets what they delete,
 * and builds the Cookie header a browser would send.
 */
export class CookieJar {
  readonly #cookies = new Map<string, string>();

  /** Apply Set-Cookie lines (a deletion has `Max-Age=0`). */
  apply(setCookie: readonly string[]): this {
    for (const line of setCookie) {
      const [pair = '', ...attributes] = line.split('; ');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      if (attributes.some((attribute) => attribute === 'Max-Age=0')) this.#cookies.delete(name);
      else this.#cookies.set(name, pair.slice(eq + 1));
    }
    return this;
  }

  get(name: string): string | undefined {
    return this.#cookies.get(name);
  }

  names(): string[] {
    return [...this.#cookies.keys()];
  }

  /** The Cookie header, or undefined when the jar is empty. */
  header(): string | undefined {
    if (this.#cookies.size === 0) return undefined;
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}
