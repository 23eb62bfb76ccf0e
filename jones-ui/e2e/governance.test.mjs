// Pins, the review's reach and the schema in headless Chromium against a
// real jones-server with an admin token: a pin's badges and unpinning, the
// reach the review counts from associations made here, a schema violation
// that disables Save, the schema checked as you type on the would-be view,
// and a viewer, who is offered no rollback and no pin.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { screenshot, setEditorText, startBrowser, startServer, withPage } from './harness.mjs';

const ADMIN = 'e2e-governance-admin';
let server;
let browser;
let serial = 0;
const uniqueService = (prefix) => `${prefix}-${process.pid}-${serial++}`;

before(async () => {
  server = await startServer({ adminToken: ADMIN });
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function ok(res, status = 200) {
  const done = await res;
  assert.equal(done.status, status, JSON.stringify(done));
  return done.body;
}

async function createService(svc, envs) {
  await ok(server.api('POST', `/services/${svc}`), 201);
  for (const [env, config] of envs) {
    if (env === '') await setConfig(svc, '', config);
    else await ok(server.api('POST', `/services/${svc}/config/${env}`, { config }), 201);
  }
}

async function setConfig(svc, env, config) {
  const path = `/services/${svc}/config${env ? '/' + env : ''}`;
  const current = await ok(server.api('GET', path));
  return ok(server.api('PUT', path, { config, version: current.version }));
}

async function signIn(page, token) {
  await page.locator('#signin-token').fill(token);
  await page.locator('#signin button[type="submit"]').click();
}

/** Opens `hash` signed in with `token`. */
function withSignedIn(token, hash, body) {
  return withPage(browser, server, hash, async (page) => {
    await signIn(page, token);
    await page.locator('#config-editor').waitFor();
    await body(page);
  });
}

test('a pin shows in the tree and the panel with what unpinning gives, and unpinning removes it', async () => {
  const svc = uniqueService('ui-pins');
  await createService(svc, [['', { x: 1 }], ['prod', { y: 1 }]]);
  const [created] = (await ok(server.api('GET', `/services/${svc}/history?env=prod`))).entries;
  await withSignedIn(ADMIN, `#/services/${svc}/prod`, async (page) => {
    const row = page.locator(`#history-env .history-entry[data-id="${created.id}"]`);
    await row.locator('summary').click();
    await row.locator('button', { hasText: `Pin at #${created.id}` }).click();
    await page.locator('dialog.modal #pin-message').fill('hold prod through the freeze');
    await page.locator('dialog.modal button', { hasText: /^Pin$/ }).click();
    await page.locator('#tree-host, nav.tree-host').locator('button.node[data-env="prod"] .node-badge').waitFor();
    assert.equal(await page.locator('button.node[data-env="prod"] .node-badge').getAttribute('title'), `pinned at #${created.id}`);
    await page.locator('#pin-badge', { hasText: `pinned at #${created.id}` }).waitFor();
    await page.locator('#pin h2', { hasText: `Pinned at #${created.id}` }).waitFor();
    const pins = (await ok(server.api('GET', `/services/${svc}/pins`))).pins;
    assert.deepEqual(pins.map((p) => [p.env, p.to]), [['prod', created.id]]);
    // An edit above stops at the pin: the card shows what unpinning would give.
    await setConfig(svc, '', { x: 2 });
    await page.locator('#pin pre.diff .add', { hasText: '"x": 2' }).waitFor();
    await page.locator('#pin pre.diff .del', { hasText: '"x": 1' }).waitFor();
    await screenshot(page, 'pinned');
    await page.locator('#unpin').click();
    await page.locator('dialog.modal button', { hasText: /^Unpin$/ }).click();
    await page.locator('button.node[data-env="prod"] .node-badge').waitFor({ state: 'detached' });
    await page.locator('#pin').waitFor({ state: 'detached' });
    assert.equal(await page.locator('#pin-badge').isVisible(), false);
    assert.deepEqual((await ok(server.api('GET', `/services/${svc}/pins`))).pins, []);
    assert.deepEqual((await ok(server.api('GET', `/services/${svc}/config/prod`))).view, { x: 2, y: 1 });
  });
});

test('the review counts the environments and hosts a save reaches, from associations made here', async () => {
  const svc = uniqueService('ui-reach');
  await createService(svc, [['a', {}], ['a/b', {}], ['c', {}]]);
  await ok(server.api('PUT', `/services/${svc}/associations/host-1`, { env: 'a' }));
  await ok(server.api('PUT', `/services/${svc}/associations/host-2`, { env: 'a/b' }));
  await ok(server.api('PUT', `/services/${svc}/associations/host-3`, { env: 'a/b' }));
  await ok(server.api('PUT', `/services/${svc}/associations/host-4`, { env: 'c' }));
  await withSignedIn(ADMIN, `#/services/${svc}/a`, async (page) => {
    await setEditorText(page, '{"timeout": 30}');
    await page.locator('#save').click();
    const dialog = page.locator('dialog.modal');
    await dialog.locator('#reach-count').waitFor();
    assert.match(await dialog.locator('#reach-count').innerText(), /^Reaches 2 environments and 3 hosts/);
    const a = dialog.locator('.reach-view[data-env="a"]');
    const b = dialog.locator('.reach-view[data-env="a/b"]');
    assert.match(await a.innerText(), /1 host/);
    assert.match(await a.innerText(), /timeout added: 30/);
    assert.match(await a.innerText(), /Read by host-1$/m);
    assert.match(await b.innerText(), /Read by host-2, host-3$/m);
    assert.equal(await dialog.locator('.reach-view[data-env="c"]').count(), 0, 'c is not reached');
    await screenshot(page, 'review-reach');
    await dialog.locator('button', { hasText: /^Save$/ }).click();
    await page.locator('.message', { hasText: 'Saved a' }).waitFor();
  });
});

test('the review names at most 100 hosts of a view and counts the rest', async () => {
  const svc = uniqueService('ui-reach-many');
  await createService(svc, [['big', {}]]);
  for (let i = 0; i < 103; i++) {
    await ok(server.api('PUT', `/services/${svc}/associations/host-${String(i).padStart(3, '0')}`, { env: 'big' }));
  }
  await withSignedIn(ADMIN, `#/services/${svc}/big`, async (page) => {
    await setEditorText(page, '{"k": 1}');
    await page.locator('#save').click();
    const dialog = page.locator('dialog.modal');
    await dialog.locator('#reach-count', { hasText: 'Reaches 1 environment and 103 hosts' }).waitFor();
    const hosts = await dialog.locator('.reach-view[data-env="big"] .reach-hosts').innerText();
    assert.match(hosts, /^Read by host-000, host-001, .*host-099 and 3 more$/);
    assert.equal(await dialog.locator('.reach-view[data-env="big"] .reach-hosts code').count(), 100);
    await dialog.locator('button', { hasText: 'Keep editing' }).click();
  });
});

test('a schema violation disables Save and names the environment and pointer; the check as you type uses the view', async () => {
  const svc = uniqueService('ui-schema');
  await createService(svc, [['', { name: 'checkout' }], ['prod', { pool: 4 }], ['prod/eu', {}]]);
  await ok(server.api('PUT', `/services/${svc}/schema`, {
    schema: { type: 'object', required: ['name'], properties: { pool: { type: 'integer', minimum: 1 } } },
  }));
  await withSignedIn(ADMIN, `#/services/${svc}/prod`, async (page) => {
    await setEditorText(page, '{"pool": 0}');
    // As you type: the pool is wrong; name, required but inherited from root, is not.
    await page.locator('#schema-status li', { hasText: '/pool' }).waitFor();
    assert.doesNotMatch(await page.locator('#schema-status').innerText(), /name/);
    await page.locator('#save').click();
    const dialog = page.locator('dialog.modal');
    await dialog.locator('#violations').waitFor();
    const prod = dialog.locator('#violations li[data-env="prod"][data-pointer="/pool"]');
    const eu = dialog.locator('#violations li[data-env="prod/eu"][data-pointer="/pool"]');
    assert.match(await prod.innerText(), /^prod at \/pool: /);
    assert.match(await eu.innerText(), /^prod\/eu at \/pool: /);
    assert.ok(await dialog.locator('button', { hasText: /^Save$/ }).isDisabled(), 'Save is disabled');
    assert.match(await dialog.locator('#save-refused').innerText(), /schema would refuse it/);
    await screenshot(page, 'review-schema');
    await dialog.locator('button', { hasText: 'Keep editing' }).click();
    // A config the schema accepts clears both.
    await setEditorText(page, '{"pool": 8}');
    await page.locator('#schema-status').waitFor({ state: 'hidden' });
    await page.locator('#save').click();
    await dialog.locator('#reach-count').waitFor();
    assert.equal(await dialog.locator('#violations').count(), 0);
    await dialog.locator('button', { hasText: /^Save$/ }).click();
    await page.locator('.message', { hasText: 'Saved prod' }).waitFor();
    assert.deepEqual((await ok(server.api('GET', `/services/${svc}/config/prod`))).config, { pool: 8 });
  });
});

test('the check as you type follows a parent changed elsewhere and keeps the text, and the focus, being typed', async () => {
  const svc = uniqueService('ui-schema-live');
  await createService(svc, [['', { name: 'checkout' }], ['prod', {}]]);
  await ok(server.api('PUT', `/services/${svc}/schema`, { schema: { properties: { pool: { type: 'integer', minimum: 1 } } } }));
  await withSignedIn(ADMIN, `#/services/${svc}/prod`, async (page) => {
    await page.locator('#live', { hasText: '● live' }).waitFor();
    await setEditorText(page, '{"pool": 0, "typed": tr');
    const content = page.locator('#config-editor .cm-content');
    for (const round of [1, 2]) {
      // The parent's view changes: the panel refreshes and the check is built anew.
      await setConfig(svc, '', { name: 'checkout', [`k${round}`]: round });
      await page.locator(`#view-table tr[data-key="k${round}"]`).waitFor();
      assert.match(await content.innerText(), /"typed": tr/, `after live update ${round}`);
      assert.equal(await page.evaluate(() => !!document.activeElement.closest('#config-editor')), true, 'the editor keeps the focus');
    }
    await page.keyboard.insertText('ue}');
    assert.match(await content.innerText(), /"typed": true}/);
    await page.locator('#schema-status li', { hasText: '/pool' }).waitFor();
  });
});

test('a viewer reads the history and the pin but is offered no rollback, pin or unpin', async () => {
  const svc = uniqueService('ui-viewer');
  await createService(svc, [['prod', { a: 1 }]]);
  await setConfig(svc, 'prod', { a: 2 });
  const history = (await ok(server.api('GET', `/services/${svc}/history?env=prod`))).entries;
  const created = history.find((e) => e.action === 'env.create');
  await ok(server.api('PUT', `/services/${svc}/pins/prod`, { to: created.id }));
  const name = `viewer-${process.pid}`;
  const { token } = await ok(server.api('POST', '/accounts', { name, grants: [{ role: 'viewer', service: svc }] }), 201);
  await withSignedIn(token, `#/services/${svc}/prod`, async (page) => {
    await page.locator('#pin h2', { hasText: `Pinned at #${created.id}` }).waitFor();
    await page.locator('button.node[data-env="prod"] .node-badge').waitFor();
    for (const entry of history) {
      const row = page.locator(`#history-env .history-entry[data-id="${entry.id}"]`);
      await row.locator('summary').click();
      await row.locator('pre.diff').waitFor();
    }
    assert.equal(await page.locator('#history-env button.rollback').count(), 0, 'no rollback');
    assert.equal(await page.locator('#history-env button.pin').count(), 0, 'no pin');
    assert.equal(await page.locator('#unpin').count(), 0, 'no unpin');
    await screenshot(page, 'viewer-history');
  });
  // The same page offers them to the admin: the checks above look at real controls.
  await withSignedIn(ADMIN, `#/services/${svc}/prod`, async (page) => {
    await page.locator('#unpin').waitFor();
    const row = page.locator(`#history-env .history-entry[data-id="${created.id}"]`);
    await row.locator('summary').click();
    await row.locator('button.rollback').waitFor();
    await row.locator('button.pin').waitFor();
  });
});
