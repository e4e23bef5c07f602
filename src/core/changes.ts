/**
 * Change tracking for SessionImpl: what one request set or deleted at the top level of the data and
 * the flash, found by comparing with the JSON text of what was loaded.
 */
import { hasKeys } from './json.ts';

/** The changes one request made to the top-level keys, to re-apply on a fresher record after a conflict. */
export interface SessionChanges {
  readonly data: ReadonlyMap<string, unknown>;
  readonly dataDeleted: readonly string[];
  readonly flash: ReadonlyMap<string, unknown>;
  readonly flashDeleted: readonly string[];
  /** The CSRF secret was made (or dropped) on this request. */
  readonly csrfSecretChanged: boolean;
  /** The session's own cookie options (cookieOptions()) were changed on this request. */
  readonly cookieChanged: boolean;
}

/** The flash's JSON, or undefined when it holds nothing (an empty flash is no flash). */
export function flashJson(flash: Record<string, unknown> | undefined): string | undefined {
  return hasKeys(flash) ? JSON.stringify(flash) : undefined;
}

/** Each top-level key's JSON in a baseline's JSON text (undefined: an empty record). */
function entriesOf(json: string | undefined): Map<string, string> {
  const map = new Map<string, string>();
  if (json === undefined) return map;
  const record = JSON.parse(json) as Record<string, unknown>;
  for (const key of Object.keys(record)) map.set(key, JSON.stringify(record[key]));
  return map;
}

/** The top-level keys set or deleted since a baseline (its JSON text). */
export function diff(
  baseline: string | undefined,
  now: Record<string, unknown> | undefined,
): { changed: Map<string, unknown>; deleted: string[] } {
  const before = entriesOf(baseline);
  const changed = new Map<string, unknown>();
  const current = now ?? {};
  for (const [key, value] of Object.entries(current)) {
    if (before.get(key) !== JSON.stringify(value)) changed.set(key, value);
  }
  const deleted = [...before.keys()].filter((key) => !Object.hasOwn(current, key));
  return { changed, deleted };
}
