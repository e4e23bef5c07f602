/**
 * Response headers that go with a Set-Cookie for the session: `Cache-Control: no-store` so that no
 * shared cache hands one user's cookie to another (CVE-2025-48947), and `Vary: Cookie`
 * (checklist #57).
 */

/** The Cache-Control to send: the app's own if it already forbids storing, else `no-store`. */
export function sessionCacheControl(existing: string | undefined | null): string {
  if (existing && /(^|[\s,])no-store([\s,]|$)/i.test(existing)) return existing;
  return 'no-store';
}

/** The Vary to send: the app's own with `Cookie` added unless it is there already or Vary is `*`. */
export function sessionVary(existing: string | undefined | null): string {
  if (!existing || existing.trim() === '') return 'Cookie';
  const fields = existing.split(',').map((field) => field.trim().toLowerCase());
  if (fields.includes('cookie') || fields.includes('*')) return existing;
  return `${existing}, Cookie`;
}

/** The Set-Cookie lines of sign-outs (destroy) whose Sessions has `clearSiteData` on. */
const signOuts = new WeakSet<readonly string[]>();

/** @internal Mark what commit() returns for a sign-out, for the adapters (checklist #58). */
export function markSignOut(lines: readonly string[]): void {
  signOuts.add(lines);
}

/**
 * The `Clear-Site-Data` value to send with these Set-Cookie lines (exactly as commit() returned them),
 * or undefined: `"cookies"` for a sign-out when `clearSiteData` is on.
 */
export function clearSiteDataFor(lines: readonly string[]): string | undefined {
  return signOuts.has(lines) ? '"cookies"' : undefined;
}

/** Append each Set-Cookie as its own header line and add the cache headers (Fetch `Headers`). */
export function applyToHeaders(headers: Headers, setCookies: readonly string[]): void {
  if (setCookies.length === 0) return;
  for (const line of setCookies) headers.append('set-cookie', line);
  headers.set('cache-control', sessionCacheControl(headers.get('cache-control')));
  headers.set('vary', sessionVary(headers.get('vary')));
  const clear = clearSiteDataFor(setCookies);
  if (clear !== undefined) headers.set('clear-site-data', clear);
}
