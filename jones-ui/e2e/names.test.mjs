// The editor's name rules against the one table of cases jones-client's
// name.rs is tested against: pure logic, no browser.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { associationProblem, envPathProblem, serviceProblem } from '../assets/names.js';

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
