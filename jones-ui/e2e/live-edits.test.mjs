// A live update (a change made by another writer, arriving on the event
// stream) never takes away what the user is typing: for every field a
// re-render could rebuild, type into it, let another writer change the
// service, wait until the page shows that change, then check that the
// typed text, the focus and the selection are all still there.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openPage, screenshot, startBrowser, startServer } from './harness.mjs';

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

async function api(method, path, body) {
  const res = await server.api(method, path, body);
  assert.ok(res.status < 300, `${method} ${path}: ${JSON.stringify(res)}`);
  return res.body;
}

/** A service with root, `parent`, `parent/child1`, `other`, and host `web-01` on `parent`. */
async function createService(svc) {
  await api('POST', `/services/${svc}`);
  await api('POST', `/services/${svc}/config/parent`, { config: { a: 1 } });
  await api('POST', `/services/${svc}/config/parent/child1`, { config: { a: 2 } });
  await api('POST', `/services/${svc}/config/other`, { config: {} });
  await api('PUT', `/services/${svc}/associations/web-01`, { env: 'parent' });
}

/**
 * Another writer changes the service twice, as a user elsewhere would:
 * a new environment under the root (the tree re-renders) and a new key in
 * `parent`'s config (the environment panel re-renders). Waits until the
 * page shows both.
 */
async function changeElsewhere(page, svc, round) {
  await api('POST', `/services/${svc}/config/new${round}`, { config: {} });
  const current = await api('GET', `/services/${svc}/config/parent`);
  await api('PUT', `/services/${svc}/config/parent`, { config: { ...current.config, [`k${round}`]: round }, version: current.version });
  await page.locator(`.tree button.node[data-env="new${round}"]`).waitFor({ timeout: 20_000 });
  await page.locator(`#view-table tr[data-key="k${round}"]`).waitFor({ timeout: 20_000 });
}

/** The focused element's id, value and selection, as the user sees them. */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    return {
      id: el && el.id,
      value: el && 'value' in el ? el.value : null,
      selection: el && typeof el.selectionStart === 'number' ? [el.selectionStart, el.selectionEnd] : null,
    };
  });
}

async function openParent(page, svc) {
  await page.goto(`${server.url}/#/services/${svc}/parent`);
  await page.locator('h1', { hasText: 'parent' }).waitFor();
  await page.locator('#live', { hasText: '● live' }).waitFor();
  await page.locator('#associations .assoc-row', { hasText: 'web-01' }).waitFor();
}

/** Opens the page, runs `body`, and checks no script failed and nothing left loopback. */
async function withPage(body) {
  const tab = await openPage(browser, server);
  try {
    await body(tab.page);
    assert.deepEqual(tab.foreign, [], 'the page made requests to other hosts');
    assert.deepEqual(tab.errors, [], 'the page threw errors');
  } finally {
    await tab.close();
  }
}

for (const [id, typed] of [
  ['child-name', 'half-typed-child'],
  ['assoc-name', 'web-02.half.typed'],
  ['lookup-name', 'web-03.half.typed'],
]) {
  test(`text typed into #${id} keeps its value, focus and selection through live updates`, async () => {
    const svc = uniqueService(`ui-keep-${id}`);
    await createService(svc);
    await withPage(async (page) => {
      await openParent(page, svc);
      const field = page.locator(`#${id}`);
      await field.click();
      await page.keyboard.type(typed);
      // Select a middle part, as a user about to retype it would.
      await field.evaluate((el) => el.setSelectionRange(2, 6));
      const before = await focused(page);
      assert.deepEqual(before, { id, value: typed, selection: [2, 6] });

      for (const round of [1, 2]) {
        await changeElsewhere(page, svc, round);
        assert.deepEqual(await focused(page), before, `after live update ${round}`);
      }
      // Typing goes on where it stopped: the selection is replaced.
      await page.keyboard.type('X');
      assert.equal(await field.inputValue(), typed.slice(0, 2) + 'X' + typed.slice(6));
      await screenshot(page, `live-keeps-${id}`);
    });
  });
}

test('an add-child name typed right after a save survives that save’s own live event', async () => {
  const svc = uniqueService('ui-keep-after-save');
  await createService(svc);
  await withPage(async (page) => {
    await openParent(page, svc);
    for (const round of [1, 2, 3]) {
      const current = await api('GET', `/services/${svc}/config/parent`);
      // The page saves (its own write), the user types at once, the live
      // event of that save arrives while they type.
      await page.evaluate(async ([svc, config, version]) => {
        const { api } = await import('/api.js');
        await api.saveEnv(svc, 'parent', config, version);
      }, [svc, { ...current.config, [`s${round}`]: round }, current.version]);
      await page.locator('#child-name').fill(`kid${round}`);
      await page.locator(`#view-table tr[data-key="s${round}"]`).waitFor({ timeout: 20_000 });
      await page.locator('.add-child button', { hasText: 'Add' }).click();
      await page.locator('h1', { hasText: `parent/kid${round}` }).waitFor();
      await page.goto(`${server.url}/#/services/${svc}/parent`);
      await page.locator('h1', { hasText: /^parent$/ }).waitFor();
    }
  });
  const parent = await api('GET', `/services/${svc}/config/parent`);
  for (const kid of ['kid1', 'kid2', 'kid3']) assert.ok(parent.children.includes(kid), JSON.stringify(parent.children));
});

test('a move target chosen for an association keeps its choice and focus through live updates', async () => {
  const svc = uniqueService('ui-keep-move');
  await createService(svc);
  await withPage(async (page) => {
    await openParent(page, svc);
    const select = page.locator('#associations .assoc-row', { hasText: 'web-01' }).locator('select');
    await select.selectOption('other');
    await select.focus();
    for (const round of [1, 2]) {
      await changeElsewhere(page, svc, round);
      assert.equal(await select.inputValue(), 'other', `after live update ${round}`);
      assert.equal(await page.evaluate(() => document.activeElement.tagName), 'SELECT');
      assert.equal(await page.evaluate(() => document.activeElement.value), 'other');
    }
    await page.locator('#associations .assoc-row', { hasText: 'web-01' }).locator('button', { hasText: /^Move$/ }).click();
    await page.locator('.message', { hasText: 'Moved web-01' }).waitFor();
  });
  const resolved = await api('GET', `/services/${svc}/resolve/web-01`);
  assert.equal(resolved.env, 'other');
});

test('text typed into the config editor keeps its text and focus through live updates', async () => {
  const svc = uniqueService('ui-keep-editor');
  await createService(svc);
  await withPage(async (page) => {
    await page.goto(`${server.url}/#/services/${svc}/parent/child1`);
    await page.locator('h1', { hasText: 'parent/child1' }).waitFor();
    await page.locator('#live', { hasText: '● live' }).waitFor();
    const editor = page.locator('#config-editor');
    await editor.locator('button[title^="Switch to text mode"]').first().click();
    const content = editor.locator('.cm-content');
    // A click and text inserted without key presses, as an input method
    // or a dictation tool would: nothing but input events.
    await content.click();
    await page.keyboard.insertText(', "typed": tr');
    for (const round of [1, 2]) {
      // A change to `parent` reaches child1's view: the panel refreshes.
      const current = await api('GET', `/services/${svc}/config/parent`);
      await api('PUT', `/services/${svc}/config/parent`, { config: { ...current.config, [`k${round}`]: round }, version: current.version });
      await page.locator(`#view-table tr[data-key="k${round}"]`).waitFor({ timeout: 20_000 });
      assert.match(await content.innerText(), /"typed": tr/, `after live update ${round}`);
      assert.equal(await page.evaluate(() => !!document.activeElement.closest('#config-editor')), true, 'the editor keeps the focus');
    }
    await page.keyboard.insertText('ue');
    assert.match(await content.innerText(), /"typed": true/);
  });
});

test('an open Raw JSON section and a focused tree node stay so through live updates', async () => {
  const svc = uniqueService('ui-keep-raw');
  await createService(svc);
  await withPage(async (page) => {
    await openParent(page, svc);
    await page.locator('#raw-json summary').first().click();
    assert.equal(await page.locator('#raw-json details').first().evaluate((d) => d.open), true);
    await page.locator('.tree button.node[data-env="other"]').focus();
    await changeElsewhere(page, svc, 1);
    assert.equal(await page.locator('#raw-json details').first().evaluate((d) => d.open), true, 'Raw JSON stays open');
    assert.match(await page.locator('#raw-json details').first().innerText(), /"k1": 1/, 'and shows the update');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.env), 'other', 'the tree node keeps the focus');
  });
});

test('a value being edited in the tree editor keeps its text and focus through live updates', async () => {
  const svc = uniqueService('ui-keep-tree-edit');
  await createService(svc);
  await withPage(async (page) => {
    await page.goto(`${server.url}/#/services/${svc}/parent/child1`);
    await page.locator('h1', { hasText: 'parent/child1' }).waitFor();
    await page.locator('#live', { hasText: '● live' }).waitFor();
    // Open the value of key "a" for editing and type a new one, unfinished.
    await page.locator('#config-editor .jse-value').first().dblclick();
    const editing = page.locator('#config-editor .jse-editable-div[contenteditable=true]');
    await editing.waitFor();
    await page.keyboard.press('Control+A');
    await page.keyboard.type('12345');
    for (const round of [1, 2]) {
      const current = await api('GET', `/services/${svc}/config/parent`);
      await api('PUT', `/services/${svc}/config/parent`, { config: { ...current.config, [`k${round}`]: round }, version: current.version });
      await page.locator(`#view-table tr[data-key="k${round}"]`).waitFor({ timeout: 20_000 });
      assert.equal(await editing.innerText(), '12345', `after live update ${round}`);
      assert.equal(await page.evaluate(() => document.activeElement.isContentEditable), true, 'the value keeps the focus');
    }
    await page.keyboard.press('Enter');
    await page.locator('#edit-status', { hasText: 'Unsaved changes' }).waitFor();
    await page.keyboard.press('Control+s');
    const review = page.locator('dialog.modal');
    await review.waitFor();
    await review.locator('button', { hasText: /^Save$/ }).click();
    await page.locator('.message', { hasText: 'Saved parent/child1' }).waitFor();
  });
  const saved = await api('GET', `/services/${svc}/config/parent/child1`);
  assert.deepEqual(saved.config, { a: 12345 });
});

test('a focused control that a live update re-renders keeps the focus: the stale banner, an origin link', async () => {
  const svc = uniqueService('ui-keep-focus');
  await createService(svc);
  await withPage(async (page) => {
    await page.goto(`${server.url}/#/services/${svc}/parent/child1`);
    await page.locator('h1', { hasText: 'parent/child1' }).waitFor();
    await page.locator('#live', { hasText: '● live' }).waitFor();
    await page.locator('#config-editor .jse-value').first().dblclick();
    await page.keyboard.press('Control+A');
    await page.keyboard.type('7');
    await page.keyboard.press('Enter');
    await page.locator('#edit-status', { hasText: 'Unsaved changes' }).waitFor();

    const changeChild = async (round) => {
      const current = await api('GET', `/services/${svc}/config/parent/child1`);
      await api('PUT', `/services/${svc}/config/parent/child1`, { config: { ...current.config, [`c${round}`]: round }, version: current.version });
      await page.locator(`#view-table tr[data-key="c${round}"]`).waitFor({ timeout: 20_000 });
    };
    await changeChild(1);
    await page.locator('#discard-stale').focus();
    await changeChild(2);
    const latest = (await api('GET', `/services/${svc}/config/parent/child1`)).version;
    assert.match(await page.locator('#stale').innerText(), new RegExp(`version ${latest}`));
    assert.equal(await page.evaluate(() => document.activeElement.id), 'discard-stale');

    const changeParent = async (key) => {
      const current = await api('GET', `/services/${svc}/config/parent`);
      await api('PUT', `/services/${svc}/config/parent`, { config: { ...current.config, [key]: 1 }, version: current.version });
      await page.locator(`#view-table tr[data-key="${key}"]`).waitFor({ timeout: 20_000 });
    };
    await changeParent('p');
    await page.locator('#view-table tr[data-key="p"] a.origin').focus();
    await changeParent('q');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.focus), 'origin:p');
  });
});

test('a child name typed while another writer creates that child keeps the text and says it is taken', async () => {
  const svc = uniqueService('ui-keep-taken');
  await createService(svc);
  await withPage(async (page) => {
    await openParent(page, svc);
    await page.locator('#child-name').fill('kid');
    assert.equal(await page.locator('.add-child button[type=submit]').isDisabled(), false);
    await api('POST', `/services/${svc}/config/parent/kid`, { config: {} });
    await page.locator('#child-problem', { hasText: 'parent already has a child named “kid”' }).waitFor({ timeout: 20_000 });
    assert.equal(await page.locator('#child-name').inputValue(), 'kid');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'child-name');
    assert.equal(await page.locator('.add-child button[type=submit]').isDisabled(), true);
  });
});
