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

/** Append each Set-Cookie as its own header line and add the cache headers (Fetch `Headers`). */
export function applyToHeaders(headers: Headers, setCookies: readonly string[]): void {
  if (setCookies.length === 0) return;
  for (const line of setCookies) headers.append('set-cookie', line);
  headers.set('cache-control', sessionCacheControl(headers.get('cache-control')));
  headers.set('vary', sessionVary(headers.get('vary')));
}
