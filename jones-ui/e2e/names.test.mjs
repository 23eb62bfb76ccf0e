// The editor's name rules against the one table of cases jones-client's
// name.rs is tested against: pure logic, no browser.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { associationProblem, confirmationForm, envPathProblem, isEdgeSpace, serviceProblem, visibleName } from '../assets/names.js';

const table = JSON.parse(
  readFileSync(new URL('../../jones-client/src/model/name_rules.json', import.meta.url), 'utf8'),
);

for (const [kind, problem] of [
  ['service', serviceProblem],
  ['environment', envPathProblem],
  ['association', associationProblem],
]) {
  test(`${kind} names follow the shared table`, () => {
    assert.ok(table[kind].length > 5);
    for (const { name, ok } of table[kind]) {
      const why = problem(name);
      assert.equal(why === null, ok, `${kind} ${JSON.stringify(name)}: ${why}`);
    }
  });
}

test('the edge-space set is the table’s, code point by code point, not JavaScript’s trim()', () => {
  const listed = table.edge_space.map(([lo, hi]) => [parseInt(lo, 16), parseInt(hi, 16)]);
  for (let c = 0; c <= 0x10ffff; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const ch = String.fromCodePoint(c);
    const inTable = listed.some(([lo, hi]) => c >= lo && c <= hi);
    assert.equal(isEdgeSpace(ch), inTable, `U+${c.toString(16)}`);
  }
  // Where trim() and Rust's trim() differ, the one set decides.
  assert.equal(isEdgeSpace('\ufeff'), true);
  assert.equal(isEdgeSpace('\u0085'), true);
  assert.equal(isEdgeSpace('\u200b'), true);
});

test('a name written before the rules is shown quoted and confirmed by what can be seen', () => {
  assert.equal(visibleName(' spaced name '), '“␣spaced name␣”');
  assert.equal(confirmationForm(' spaced name '), 'spaced name');
  assert.equal(visibleName('tab\there\ufeff'), '“tab\\u0009here\\uFEFF”');
  assert.equal(confirmationForm('\ufeffCheck Out!\u3000'), 'Check Out!');
  assert.equal(confirmationForm('checkout'), 'checkout');
  assert.equal(confirmationForm('   '), 'delete');
});
