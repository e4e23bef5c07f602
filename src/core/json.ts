/**
 * JSON in and out of sealed payloads. Parsing happens only after authentication (checklist #36), and
 * even then yields null-prototype objects with `__proto__`, `constructor` and `prototype` keys
 * removed, under a depth cap (checklist #47).
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export const MAX_JSON_DEPTH = 32;

/** True when `key` may be used as a session or object key. */
export function isAllowedKey(key: string): boolean {
  return !FORBIDDEN_KEYS.has(key);
}

/** The deepest nesting of `[`/`{` in a JSON text, counted in one linear pass that skips strings. */
function nestingDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return max;
}

function reviver(key: string, value: unknown): unknown {
  if (FORBIDDEN_KEYS.has(key)) return undefined;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.assign(Object.create(null), value);
  }
  return value;
}

/** Parse JSON text into null-prototype objects; undefined for invalid, too deep or non-finite input. */
export function parseSafeJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (nestingDepth(text, maxDepth) > maxDepth) return undefined;
  try {
    return JSON.parse(text, reviver);
  } catch {
    return undefined;
  }
}

/** A plain object: `{}` or a null-prototype object, not an array, Date, Map or class instance. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

/**
 * Throw a TypeError unless `value` survives a JSON round trip unchanged: plain objects, arrays,
 * strings, finite numbers, booleans and null, at most {@link MAX_JSON_DEPTH} deep. A Date, Map, Set,
 * BigInt, function or cycle would come back different, or not at all, so it is refused up front.
 */
export function assertJsonValue(value: unknown, path: string, depth = 0): void {
  if (depth > MAX_JSON_DEPTH) throw new TypeError(`${path} is nested deeper than ${MAX_JSON_DEPTH} levels`);
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${path} is ${value}, which JSON cannot hold`);
      return;
    case 'object':
      if (value === null) return;
      if (Array.isArray(value)) {
        for (const [i, item] of value.entries()) assertJsonValue(item, `${path}[${i}]`, depth + 1);
        return;
      }
      if (!isPlainObject(value)) {
        const kind = (value as object).constructor?.name ?? 'object';
        throw new TypeError(
          `${path} is a ${kind}; store plain objects, arrays, strings, numbers or booleans`,
        );
      }
      for (const [key, item] of Object.entries(value)) {
        if (!isAllowedKey(key)) throw new TypeError(`${path} has the key '${key}', which is not allowed`);
        if (item !== undefined) assertJsonValue(item, `${path}.${key}`, depth + 1);
      }
      return;
    default:
      throw new TypeError(`${path} is a ${typeof value}, which JSON cannot hold`);
  }
}
