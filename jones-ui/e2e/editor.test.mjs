// The web editor in headless Chromium against a real jones-server on a
// real ZooKeeper: every test drives the page as an operator would.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { screenshot, setEditorText, startBrowser, startServer, withPage } from './harness.mjs';

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

async function createTree(svc, envs) {
  const created = await server.api('POST', `/services/${svc}`);
  assert.ok(created.status < 300, `create ${svc}: ${JSON.stringify(created)}`);
  for (const [env, config] of envs) {
    const res = env === ''
      ? await putConfig(svc, '', config)
      : await server.api('POST', `/services/${svc}/config/${env}`, { config });
    assert.ok(res.status < 300, `create ${env}: ${JSON.stringify(res)}`);
  }
}

async function putConfig(svc, env, config) {
  const path = `/services/${svc}/config${env ? '/' + env : ''}`;
  const current = await server.api('GET', path);
  return server.api('PUT', path, { config, version: current.body.version });
}

async function saveWithReview(page) {
  await page.locator('#save').click();
  const dialog = page.locator('dialog.modal');
  await dialog.waitFor();
  await dialog.locator('button', { hasText: /^Save$/ }).click();
}

async function viewOrigin(page, key) {
  return page.locator(`#view-table tr[data-key="${key}"] .origin`).innerText();
}

test('builds a tree through the page and shows where each key comes from', async () => {
  const svc = uniqueService('ui-tree');
  await withPage(browser, server, '', async (page) => {
    await page.locator('#new-service').fill(svc);
    await screenshot(page, 'services');
    await page.locator('button', { hasText: 'Create service' }).click();
    await page.locator('h1', { hasText: 'root' }).waitFor();

    const created = (await server.api('GET', `/services/${svc}/config`)).body.version;
    await setEditorText(page, '{"foo": "bar"}');
    await saveWithReview(page);
    await page.locator('.message', { hasText: 'Saved root' }).waitFor();
    const saved = (await server.api('GET', `/services/${svc}/config`)).body.version;
    assert.ok(saved > created, `the save moved the version past ${created}: ${saved}`);
    await page.locator('#env-version', { hasText: `version ${saved}` }).waitFor();

    await page.locator('#child-name').fill('parent');
    await page.locator('.add-child button', { hasText: 'Add' }).click();
    await page.locator('h1', { hasText: 'parent' }).waitFor();
    await setEditorText(page, '{"a": 1, "b": [1, 2, 3], "c": {"x": 0}}');
    await saveWithReview(page);
    await page.locator('#view-table tr[data-key="b"]').waitFor();

    await page.locator('#child-name').fill('child1');
    await page.locator('.add-child button', { hasText: 'Add' }).click();
    await page.locator('h1', { hasText: 'parent/child1' }).waitFor();
    await setEditorText(page, '{"a": 2}');
    await saveWithReview(page);
    await page.locator('#view-table tr[data-key="a"] .origin.own').waitFor();

    assert.equal(await viewOrigin(page, 'a'), 'own · overrides parent');
    assert.equal(await viewOrigin(page, 'b'), 'from parent');
    assert.equal(await viewOrigin(page, 'foo'), 'from root');
    await screenshot(page, 'tree-and-inherited-view');
  });
  const child = await server.api('GET', `/services/${svc}/config/parent/child1`);
  assert.deepEqual(child.body.view, { foo: 'bar', a: 2, b: [1, 2, 3], c: { x: 0 } });
});

test('a conflicting edit keeps the user’s text and saves after re-apply', async () => {
  const svc = uniqueService('ui-conflict');
  await createTree(svc, [['parent', { a: 1 }]]);
  await withPage(browser, server, `#/services/${svc}/parent`, async (page) => {
    await page.locator('h1', { hasText: 'parent' }).waitFor();
    await page.locator('#live', { hasText: '● live' }).waitFor();
    await setEditorText(page, '{"a": 10, "mine": true}');

    const other = await putConfig(svc, 'parent', { a: 99 });
    assert.equal(other.status, 200, JSON.stringify(other));
    await page.locator('#stale').waitFor();
    await screenshot(page, 'stale-editor');

    await saveWithReview(page);
    await page.locator('#conflict').waitFor();
    const editorText = await page.locator('#config-editor .cm-content').innerText();
    assert.match(editorText, /"mine": true/, 'the user’s edit is still in the editor');
    assert.match(await page.locator('#conflict').innerText(), /"a": 99/);
    await screenshot(page, 'conflict');

    // `a` changed on both sides: the merge asks which value to keep.
    await page.locator('#reapply').click();
    const pick = page.locator('dialog.modal #pick-sides');
    await pick.waitFor();
    assert.match(await pick.innerText(), /server, version \d+:\s*99/);
    await screenshot(page, 'merge-pick');
    await page.locator('dialog.modal button', { hasText: 'Use these values' }).click();
    // Ctrl+S right after typing reviews and saves what was typed.
    await page.locator('#config-editor .cm-content').click();
    await page.keyboard.press('End');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.insertText(', "typed": 1');
    await page.keyboard.press('Control+s');
    const review = page.locator('dialog.modal');
    await review.waitFor();
    await review.locator('button', { hasText: /^Save$/ }).click();
    await page.locator('.message', { hasText: 'Saved parent' }).waitFor();
  });
  const saved = await server.api('GET', `/services/${svc}/config/parent`);
  assert.deepEqual(saved.body.config, { a: 10, mine: true, typed: 1 });
});

test('merging an edit after a conflict keeps the other side’s changes', async () => {
  const svc = uniqueService('ui-merge');
  await createTree(svc, [['prod', { db: { pool: { size: 50 } }, timeout_ms: 500 }]]);
  await withPage(browser, server, `#/services/${svc}/prod`, async (page) => {
    await page.locator('#live', { hasText: '● live' }).waitFor();
    await setEditorText(page, '{"db": {"pool": {"size": 50}}, "timeout_ms": 500, "new_flow": true}');
    const other = await putConfig(svc, 'prod', { db: { pool: { size: 64 } }, timeout_ms: 450 });
    assert.equal(other.status, 200, JSON.stringify(other));
    await page.locator('#stale').waitFor();
    await saveWithReview(page);
    await page.locator('#conflict').waitFor();
    await page.locator('#reapply').click();
    await page.locator('.message', { hasText: 'Merged your edit' }).waitFor();
    assert.equal(await page.locator('#pick-sides').count(), 0, 'nothing to pick');
    await saveWithReview(page);
    await page.locator('.message', { hasText: 'Saved prod' }).waitFor();
  });
  const saved = await server.api('GET', `/services/${svc}/config/prod`);
  assert.deepEqual(saved.body.config, { db: { pool: { size: 64 } }, timeout_ms: 450, new_flow: true });
});

test('invalid JSON and bad names are refused with a message', async () => {
  const svc = uniqueService('ui-invalid');
  await createTree(svc, []);
  await withPage(browser, server, `#/services/${svc}`, async (page) => {
    await page.locator('h1', { hasText: 'root' }).waitFor();
    await setEditorText(page, '{"a": ');
    await page.locator('#edit-status', { hasText: 'Invalid JSON' }).waitFor();
    assert.equal(await page.locator('#save').isDisabled(), true);
    await screenshot(page, 'invalid-json');

    await setEditorText(page, '[1, 2]');
    await page.locator('#edit-status', { hasText: 'must be a JSON object, not an array' }).waitFor();
    assert.equal(await page.locator('#save').isDisabled(), true);

    for (const [name, reason] of [['a/b', '“/”'], ['..', 'not allowed'], ['x'.repeat(256), 'at most 255 bytes']]) {
      await page.locator('#child-name').fill(name);
      await page.locator('#child-problem', { hasText: reason }).waitFor();
      assert.equal(await page.locator('.add-child button[type=submit]').isDisabled(), true, name);
    }
    await screenshot(page, 'bad-name');
  });
  const root = await server.api('GET', `/services/${svc}/config`);
  assert.deepEqual(root.body.config, {}, 'nothing was saved');
  assert.deepEqual(root.body.children, []);
});

test('an association added on the page resolves when the host is looked up', async () => {
  const svc = uniqueService('ui-assoc');
  await createTree(svc, [['', { foo: 'bar' }], ['parent', { a: 1 }]]);
  await withPage(browser, server, `#/services/${svc}/parent`, async (page) => {
    await page.locator('h1', { hasText: 'parent' }).waitFor();
    await page.locator('#assoc-name').fill('web-01.example.com');
    await page.locator('#associations button', { hasText: 'Add association' }).click();
    await page.locator('#associations .assoc-row', { hasText: 'web-01.example.com' }).waitFor();

    await page.locator('#lookup-name').fill('web-01.example.com');
    await page.locator('.lookup button', { hasText: 'Look up' }).click();
    const result = page.locator('#lookup-result');
    await result.locator('a', { hasText: 'parent' }).waitFor();
    assert.match(await result.innerText(), /"foo": "bar"/);
    assert.match(await result.innerText(), /"a": 1/);
    await screenshot(page, 'association-lookup');
  });
  const resolved = await server.api('GET', `/services/${svc}/resolve/web-01.example.com`);
  assert.deepEqual(resolved.body.config ?? resolved.body.view, { foo: 'bar', a: 1 });
});

test('the review names every inherited key a save would hide', async () => {
  const svc = uniqueService('ui-hidden');
  await createTree(svc, [
    ['', { db: { host: 'db1', pool: { size: 5 } } }],
    ['prod', { threads: 8 }],
    ['prod/eu', { region: 'eu' }],
  ]);
  await withPage(browser, server, `#/services/${svc}/prod`, async (page) => {
    await page.locator('#view-table tr[data-key="db"]').waitFor();
    await setEditorText(page, '{"threads": 8, "db": {"pool": {"size": 20}}}');
    await page.locator('#save').click();
    const dialog = page.locator('dialog.modal');
    await dialog.waitFor();
    const warning = dialog.locator('#hidden-keys');
    await warning.waitFor();
    const text = await warning.innerText();
    assert.match(text, /prod’s view no longer has db\.host \(from root\)/);
    assert.match(text, /prod\/eu’s view no longer has db\.host \(from root\)/);
    assert.doesNotMatch(text, /pool/, 'a key the edit sets is not hidden');
    await screenshot(page, 'hidden-keys');
    await dialog.locator('button', { hasText: 'Keep editing' }).click();

    // An edit that keeps every inherited key gets no warning.
    // Saved at once after typing: the review shows what was just typed.
    await setEditorText(page, '{"threads": 16}');
    await page.locator('#save').click();
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /"threads": 16/);
    await dialog.locator('button', { hasText: /^Save$/ }).waitFor();
    assert.equal(await dialog.locator('#hidden-keys').count(), 0);
    await dialog.locator('button', { hasText: /^Save$/ }).click();
    await page.locator('#view-table tr[data-key="threads"] .value', { hasText: '16' }).waitFor();
  });
});

test('a change made through the API appears on the open page without reload', async () => {
  const svc = uniqueService('ui-live');
  await createTree(svc, [['parent', { a: 1 }], ['parent/child1', { a: 2 }]]);
  await withPage(browser, server, `#/services/${svc}/parent/child1`, async (page) => {
    await page.locator('#view-table tr[data-key="a"]').waitFor();
    await page.locator('#live', { hasText: '● live' }).waitFor();
    await page.evaluate(() => (window.__notReloaded = true));

    const res = await putConfig(svc, 'parent', { a: 1, rollout: 'live' });
    assert.equal(res.status, 200, JSON.stringify(res));
    await page.locator('#view-table tr[data-key="rollout"]').waitFor({ timeout: 10_000 });
    assert.equal(await viewOrigin(page, 'rollout'), 'from parent');
    assert.equal(await page.evaluate(() => window.__notReloaded), true, 'the page did not reload');
    await screenshot(page, 'live-update');
  });
});

test('deletes ask first: a subtree only when asked for, a service only when its name is typed', async () => {
  const svc = uniqueService('ui-delete');
  await createTree(svc, [['parent', { a: 1 }], ['parent/child1', { a: 2 }], ['other', {}]]);
  await withPage(browser, server, `#/services/${svc}/parent`, async (page) => {
    await page.locator('h1', { hasText: 'parent' }).waitFor();
    await page.locator('button', { hasText: 'Delete…' }).click();
    const dialog = page.locator('dialog.modal');
    await dialog.waitFor();
    const confirm = dialog.locator('button.danger', { hasText: /^Delete$/ });
    assert.equal(await confirm.isDisabled(), true, 'a parent is not deleted without asking for its subtree');
    await screenshot(page, 'delete-subtree');
    await dialog.locator('#delete-subtree').check();
    await confirm.click();
    await page.locator('h1', { hasText: 'root' }).waitFor();
    assert.equal(await page.locator('button.node', { hasText: 'parent' }).count(), 0);

    await page.goto(`${server.url}/#/`);
    const row = page.locator('.service-row', { hasText: svc });
    await row.locator('button', { hasText: 'Delete' }).click();
    const typed = page.locator('dialog.modal');
    const remove = typed.locator('button.danger', { hasText: 'Delete service' });
    await typed.locator('input').fill(svc.slice(0, -1));
    assert.equal(await remove.isDisabled(), true, 'a wrong name does not delete');
    await typed.locator('input').fill(svc);
    await remove.click();
    await page.locator('.message', { hasText: `Deleted service ${svc}` }).waitFor();
  });
  const gone = await server.api('GET', `/services/${svc}/envs`);
  assert.equal(gone.status, 404);
});
