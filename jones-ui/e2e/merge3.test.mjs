// The three-way merge behind "Merge my edit": pure logic, no browser,
// checked against the one table of cases jones-cli's merge3.rs (env edit)
// is tested against too.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { applyPicks, merge3 } from '../assets/merge3.js';

const table = JSON.parse(readFileSync(new URL('../../jones-cli/src/merge3_cases.json', import.meta.url), 'utf8'));

for (const c of table.cases) {
  test(`shared case: ${c.name}`, () => {
    const { merged, conflicts } = merge3(c.base, c.theirs, c.mine);
    // As text: the key order counts.
    assert.equal(JSON.stringify(merged), JSON.stringify(c.merged));
    const sides = conflicts.map(({ path, theirs, mine }) => ({
      path,
      ...(theirs === undefined ? {} : { theirs }),
      ...(mine === undefined ? {} : { mine }),
    }));
    assert.deepEqual(sides, c.conflicts);
  });
}

test('keys only one side changed merge without asking', () => {
  const base = { db: { pool: 50 }, timeout_ms: 500, old: 1 };
  const theirs = { db: { pool: 64 }, timeout_ms: 450, old: 1 };
  const mine = { db: { pool: 50 }, timeout_ms: 500, new_flow: true };
  const { merged, conflicts } = merge3(base, theirs, mine);
  assert.deepEqual(conflicts, []);
  assert.deepEqual(merged, { db: { pool: 64 }, timeout_ms: 450, new_flow: true });
});

test('keys both changed differently are conflicts, nested ones by their path', () => {
  const base = { a: 1, db: { host: 'h', pool: 5 } };
  const theirs = { a: 99, db: { host: 'h2', pool: 5 } };
  const mine = { a: 10, db: { host: 'h', pool: 7 } };
  const { merged, conflicts } = merge3(base, theirs, mine);
  assert.deepEqual(conflicts, [{ path: ['a'], base: 1, theirs: 99, mine: 10 }]);
  assert.deepEqual(merged, { a: 10, db: { host: 'h2', pool: 7 } });
  assert.deepEqual(applyPicks(merged, conflicts, ['theirs']), { a: 99, db: { host: 'h2', pool: 7 } });
});

test('a removal is a change, and the same change on both sides is no conflict', () => {
  const base = { a: 1, b: 2, c: 3 };
  const theirs = { a: 1, c: 4 };
  const mine = { a: 1, b: 2, c: 4 };
  assert.deepEqual(merge3(base, theirs, mine), { merged: { a: 1, c: 4 }, conflicts: [] });
  const removedAndChanged = merge3({ a: 1 }, {}, { a: 2 });
  assert.deepEqual(removedAndChanged.conflicts, [{ path: ['a'], base: 1, theirs: undefined, mine: 2 }]);
  assert.deepEqual(applyPicks(removedAndChanged.merged, removedAndChanged.conflicts, ['theirs']), {});
});

test('arrays are values, not merged element-wise', () => {
  const { conflicts } = merge3({ l: [1] }, { l: [1, 2] }, { l: [0, 1] });
  assert.equal(conflicts.length, 1);
});
