/**
 * A browser's cookie jar, as much of one as the soak needs: one origin, names to values, a cookie removed
 * by `Max-Age=0` or an `Expires` in the past. Responses are applied in the order they arrive, as a
 * browser does with parallel tabs.
 */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  apply(setCookies: readonly string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const removed = attributes.some((attribute) => {
        const [key = '', ...rest] = attribute.split('=');
        const field = key.trim().toLowerCase();
        if (field === 'max-age') return Number(rest.join('=')) <= 0;
        if (field === 'expires') return Date.parse(rest.join('=')) <= Date.now();
        return false;
      });
      if (removed || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  clear(): void {
    this.cookies.clear();
  }

  /** The Cookie header to send, or undefined when the jar is empty. */
  header(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}
