/**
 * JSON in and out of sealed payloads. Parsing happens only after authentication (checklist #36), and
 * even then yields null-prototype objects with `__proto__`, `constructor` and `prototype` keys
 * removed, under a depth cap (checklist #47).
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export const MAX_JSON_DEPTH = 32;
/**
 * The depth a sealed payload is parsed with: a value `set()` accepts (containers up to MAX_JSON_DEPTH
 * levels below it, checked by assertJsonValue) sits two levels down in the payload (the root object, then
 * `d` or `f`), and harden counts the containers at the cap as too deep: so the reader allows three more,
 * and everything that was accepted reads back (a value accepted then refused on read lost the session).
 */
export const PAYLOAD_MAX_DEPTH = MAX_JSON_DEPTH + 3;

/** True when `key` may be used as a session or object key. */
export function isAllowedKey(key: string): boolean {
  return !FORBIDDEN_KEYS.has(key);
}

/**
 * Copy a parsed JSON value into null-prototype objects, dropping forbidden keys; undefined when it is
 * nested deeper than `maxDepth`. (One walk after a plain JSON.parse is several times faster than a
 * reviver, and JSON.parse itself only ever defines `__proto__` as an own data property.)
 */
function harden(value: unknown, depth: number, maxDepth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= maxDepth) throw DEPTH_EXCEEDED;
  if (Array.isArray(value)) {
    const copy = new Array(value.length);
    for (let i = 0; i < value.length; i++) copy[i] = harden(value[i], depth + 1, maxDepth);
    return copy;
  }
  const copy: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) continue;
    copy[key] = harden((value as Record<string, unknown>)[key], depth + 1, maxDepth);
  }
  return copy;
}

const DEPTH_EXCEEDED = Symbol('depth exceeded');

/**
 * Parse JSON text whose root must be an object, hardening only the values of `fields` (in place, as
 * parseSafeJson would, each counted one level below the root); undefined for invalid JSON, another
 * root, or a field nested deeper than `maxDepth`. The root keeps its prototype and its other values
 * stay as JSON.parse made them: for a sealed payload whose other fields are scalars that the caller
 * checks one by one (checklist #47 needs the null prototypes and key stripping where app data is).
 */
export function parseJsonFields(
  text: string,
  fields: readonly string[],
  maxDepth = MAX_JSON_DEPTH,
): Record<string, unknown> | undefined {
  try {
    const root: unknown = JSON.parse(text);
    if (root === null || typeof root !== 'object' || Array.isArray(root)) return undefined;
    const record = root as Record<string, unknown>;
    for (const field of fields) {
      if (Object.hasOwn(record, field)) record[field] = harden(record[field], 1, maxDepth);
    }
    return record;
  } catch {
    return undefined;
  }
}

/** Parse JSON text into null-prototype objects; undefined for invalid or too deeply nested input. */
export function parseSafeJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  try {
    return harden(JSON.parse(text), 0, maxDepth);
  } catch {
    return undefined;
  }
}

/** True when the record has an own key (without making an array of its keys). */
export function hasKeys(record: Record<string, unknown> | undefined): boolean {
  if (record === undefined) return false;
  for (const key in record) if (Object.hasOwn(record, key)) return true;
  return false;
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
