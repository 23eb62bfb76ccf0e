// The history panels and rollback in headless Chromium against a real
// jones-server: an entry's diff, paging with "Older", a rollback that the
// API then shows, and a rollback racing an edit made elsewhere.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { screenshot, startBrowser, startServer, withPage } from './harness.mjs';

let server;
let browser;
let serial = 0;
const uniqueService = (prefix) => `${prefix}-${process.pid}-${serial++}`;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function createService(svc, envs) {
  assert.equal((await server.api('POST', `/services/${svc}`)).status, 201);
  for (const [env, config] of envs) {
    const made = await server.api('POST', `/services/${svc}/config/${env}`, { config });
    assert.equal(made.status, 201, JSON.stringify(made));
  }
}

async function setConfig(svc, env, config, message) {
  const path = `/services/${svc}/config/${env}`;
  const current = await server.api('GET', path);
  const done = await server.api('PUT', path, { config, version: current.body.version, message });
  assert.equal(done.status, 200, JSON.stringify(done));
  return done.body;
}

async function entries(svc, env) {
  const found = await server.api('GET', `/services/${svc}/history?env=${encodeURIComponent(env)}`);
  assert.equal(found.status, 200, JSON.stringify(found));
  return found.body.entries;
}

/** The entry row of history entry `id` in the environment's history panel. */
const entryRow = (page, id) => page.locator(`#history-env .history-entry[data-id="${id}"]`);

test('an entry of the history shows who changed what and why, and its diff', async () => {
  const svc = uniqueService('ui-history');
  await createService(svc, [['prod', { a: 1 }]]);
  await setConfig(svc, 'prod', { a: 2, b: true }, 'raise a for the launch');
  const [set] = await entries(svc, 'prod');
  assert.equal(set.action, 'config.set');
  await withPage(browser, server, `#/services/${svc}/prod`, async (page) => {
    const row = entryRow(page, set.id);
    await row.waitFor();
    const summary = await row.locator('summary').innerText();
    assert.match(summary, new RegExp(`#${set.id}`));
    assert.match(summary, /local/);
    assert.match(summary, /set the config/);
    assert.match(summary, /raise a for the launch/);
    assert.match(summary, /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    await row.locator('summary').click();
    await row.locator('pre.diff .del', { hasText: '"a": 1' }).waitFor();
    await row.locator('pre.diff .add', { hasText: '"a": 2' }).waitFor();
    await row.locator('pre.diff .add', { hasText: '"b": true' }).waitFor();
    // The service's history names the environment of each entry.
    const all = page.locator(`#history-service .history-entry[data-id="${set.id}"]`);
    await all.locator('code', { hasText: 'prod' }).waitFor();
    await page.locator('#history-service .history-entry[data-action="service.create"]').waitFor();
    // A change made elsewhere arrives on top, and the opened entry stays open.
    await setConfig(svc, 'prod', { a: 3 }, 'from elsewhere');
    await page.locator('#history-env .history-entry', { hasText: 'from elsewhere' }).waitFor();
    assert.ok(await row.locator('details').evaluate((d) => d.open), 'the opened entry stays open');
    await screenshot(page, 'history-entry');
    // The root has its own history too.
    const root = await server.api('GET', `/services/${svc}/config`);
    await server.api('PUT', `/services/${svc}/config`, { config: { region: 'eu' }, version: root.body.version, message: 'the root moves' });
    await page.locator('button.node[data-env=""]').click();
    await page.locator('h1', { hasText: 'root' }).waitFor();
    await page.locator('#history-env .history-entry', { hasText: 'the root moves' }).waitFor();
    assert.equal(await page.locator('#history-env .history-entry', { hasText: 'raise a for the launch' }).count(), 0, 'only the root’s entries');
  });
});

test('"Older" pages through the history with the server\'s cursor', async () => {
  const svc = uniqueService('ui-history-pages');
  await createService(svc, [['prod', { n: 0 }]]);
  for (let n = 1; n <= 24; n++) await setConfig(svc, 'prod', { n });
  await withPage(browser, server, `#/services/${svc}/prod`, async (page) => {
    const rows = page.locator('#history-env .history-entry');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 20, 'a page of 20');
    await page.locator('#history-env button', { hasText: 'Older' }).click();
    await page.locator('#history-env .history-entry[data-action="env.create"]').waitFor();
    assert.equal(await rows.count(), 25, 'every entry once');
    assert.equal(await page.locator('#history-env button', { hasText: 'Older' }).count(), 0, 'no older page left');
  });
});

test('rolling back to an entry restores its config, with the message', async () => {
  const svc = uniqueService('ui-rollback');
  await createService(svc, [['prod', { pool: 4, host: 'db1' }]]);
  const [created] = await entries(svc, 'prod');
  assert.equal(created.action, 'env.create');
  await setConfig(svc, 'prod', { pool: 40, host: 'db2' });
  await withPage(browser, server, `#/services/${svc}/prod`, async (page) => {
    const row = entryRow(page, created.id);
    await row.locator('summary').click();
    await row.locator('button', { hasText: `Roll back to #${created.id}` }).click();
    const dialog = page.locator('dialog.modal');
    await dialog.locator('#rollback-review').waitFor();
    await dialog.locator('pre.diff .del', { hasText: '"pool": 40' }).waitFor();
    await dialog.locator('pre.diff .add', { hasText: '"pool": 4' }).waitFor();
    await dialog.locator('#rollback-message').fill('pool 40 starved the db');
    await screenshot(page, 'rollback-review');
    await dialog.locator('button', { hasText: /^Roll back$/ }).click();
    await page.locator('.message', { hasText: `Rolled prod back to #${created.id}` }).waitFor();
    const now = await server.api('GET', `/services/${svc}/config/prod`);
    assert.deepEqual(now.body.config, { pool: 4, host: 'db1' });
    const [latest] = await entries(svc, 'prod');
    assert.equal(latest.action, 'config.rollback');
    assert.equal(latest.to, created.id);
    assert.equal(latest.message, 'pool 40 starved the db');
    // The panel shows the restored config and the new entry.
    await page.locator('#view-table tr[data-key="pool"] code', { hasText: /^4$/ }).waitFor();
    await entryRow(page, latest.id).waitFor();
  });
});

test('a rollback racing an edit made elsewhere is a conflict that names who changed it', async () => {
  const svc = uniqueService('ui-rollback-race');
  await createService(svc, [['prod', { pool: 4 }]]);
  const [created] = await entries(svc, 'prod');
  await setConfig(svc, 'prod', { pool: 40 });
  await withPage(browser, server, `#/services/${svc}/prod`, async (page) => {
    const row = entryRow(page, created.id);
    await row.locator('summary').click();
    await row.locator('button', { hasText: `Roll back to #${created.id}` }).click();
    const dialog = page.locator('dialog.modal');
    await dialog.locator('#rollback-review').waitFor();
    // Someone else saves while the rollback is being reviewed.
    await setConfig(svc, 'prod', { pool: 41 }, 'hotfix meanwhile');
    await dialog.locator('button', { hasText: /^Roll back$/ }).click();
    await page.locator('#rollback-conflict').waitFor();
    const said = await page.locator('#rollback-conflict').innerText();
    assert.match(said, /Not rolled back: prod changed while you reviewed/);
    assert.match(said, /Changed by local \(config\.set, #\d+, .*“hotfix meanwhile”\)/);
    await page.locator('#rollback-conflict pre.diff .add', { hasText: '"pool": 41' }).waitFor();
    assert.deepEqual((await server.api('GET', `/services/${svc}/config/prod`)).body.config, { pool: 41 }, 'nothing written');
    await screenshot(page, 'rollback-conflict');
    // Reviewing again diffs against the new config, and rolls back.
    await page.locator('dialog.modal button', { hasText: 'Review again' }).click();
    await page.locator('dialog.modal #rollback-review pre.diff .del', { hasText: '"pool": 41' }).waitFor();
    await page.locator('dialog.modal button', { hasText: /^Roll back$/ }).click();
    await page.locator('.message', { hasText: `Rolled prod back to #${created.id}` }).waitFor();
    assert.deepEqual((await server.api('GET', `/services/${svc}/config/prod`)).body.config, { pool: 4 });
  });
});
