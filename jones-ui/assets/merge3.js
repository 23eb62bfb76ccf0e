// Three-way merge of configs, for re-applying an edit after a conflict:
// base = the version the edit started from, theirs = what is on the
// server now, mine = the edit. A key only one side changed takes that
// side's value; a key both changed the same way takes it; nested objects
// merge key by key (whatever the base held there); anything else both
// changed is a conflict for the user to decide. An absent key is
// `undefined`: removing a key is a change. Tested against the table of
// cases shared with jones-cli, jones-cli/src/merge3_cases.json.

import { canonical } from './diff.js';

const same = (a, b) => (a === undefined || b === undefined ? a === b : canonical(a) === canonical(b));
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Returns { merged, conflicts }: `merged` holds every key that merged
 * (a conflicting key keeps `mine` there until picked), `conflicts` is
 * [{ path: [keys], base, theirs, mine }].
 */
export function merge3(base, theirs, mine, path = []) {
  const merged = {};
  const conflicts = [];
  const keys = [...new Set([...Object.keys(theirs || {}), ...Object.keys(mine || {}), ...Object.keys(base || {})])];
  for (const key of keys) {
    const b = base?.[key];
    const t = theirs?.[key];
    const m = mine?.[key];
    let value;
    if (same(t, m) || same(b, m)) value = t;
    else if (same(b, t)) value = m;
    else if (isObject(t) && isObject(m)) {
      // Whatever the base held there (an object, nothing, a scalar, null),
      // two objects merge key by key, as jones-cli's merge3.rs does.
      const inner = merge3(isObject(b) ? b : {}, t, m, [...path, key]);
      value = inner.merged;
      conflicts.push(...inner.conflicts);
    } else {
      value = m;
      conflicts.push({ path: [...path, key], base: b, theirs: t, mine: m });
    }
    if (value !== undefined) merged[key] = value;
  }
  return { merged, conflicts };
}

/** `merged` with each conflict set to the side picked for it ('theirs' or 'mine'). */
export function applyPicks(merged, conflicts, picks) {
  const result = structuredClone(merged);
  conflicts.forEach((c, i) => {
    const value = picks[i] === 'theirs' ? c.theirs : c.mine;
    let at = result;
    for (const key of c.path.slice(0, -1)) {
      if (!isObject(at[key])) at[key] = {};
      at = at[key];
    }
    const last = c.path[c.path.length - 1];
    if (value === undefined) delete at[last];
    else at[last] = structuredClone(value);
  });
  return result;
}
