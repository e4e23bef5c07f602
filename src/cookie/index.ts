export { assembleCandidates, type CookiePart, presentChunkNames, splitIntoCookies } from './chunk.ts';
export {
  type CookieOptions,
  DEFAULT_COOKIE_NAME,
  DEVELOPMENT_COOKIE_NAME,
  FINGERPRINTING_COOKIE_NAMES,
  MAX_CHUNKS_LIMIT,
  MAX_COOKIE_AGE_SECONDS,
  type ResolvedCookieOptions,
  resolveCookieOptions,
  type SameSite,
} from './options.ts';
export { type ParseLimits, parseCookieHeader, readCookie } from './parse.ts';
export {
  attributesOf,
  MAX_NAME_VALUE_BYTES,
  type SetCookieAttributes,
  serializeCookieDeletion,
  serializeSetCookie,
} from './serialize.ts';
