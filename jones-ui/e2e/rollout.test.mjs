// The rollout card ("applied by N of M clients") against real clients: the
// `fleet` example registers live jones-clients in the registry, the page
// shows how many applied the view, live from the stream's `clients`
// events (the page is never reloaded), lists the clients behind, and keeps
// what the user types while reports arrive.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { screenshot, setEditorText, startBrowser, startFleet, startServer, withPage } from './harness.mjs';
import { lagText, summarize } from '../assets/rollout.js';

let server;
let browser;
let serial = 0;
const uniqueService = (prefix) => `${prefix}-${process.pid}-${serial++}`;
/** Every fleet started, stopped in `after` should a test fail midway. */
const fleets = [];

before(async () => {
  server = await startServer();
  browser = await startBrowser();
});

after(async () => {
  await Promise.all(fleets.map((f) => f.stop()));
  await browser?.close();
  await server?.stop();
});

async function api(method, path, body) {
  const res = await server.api(method, path, body);
  assert.ok(res.status < 300, `${method} ${path}: ${JSON.stringify(res)}`);
  return res.body;
}

function fleet(options) {
  const f = startFleet(server, { key: 'color', ...options });
  fleets.push(f);
  return f;
}

async function saveWithReview(page) {
  await page.locator('#save').click();
  const dialog = page.locator('dialog.modal');
  await dialog.waitFor();
  await dialog.locator('button', { hasText: /^Save$/ }).click();
}

const head = (page) => page.locator('#rollout-head');
const envRow = (page, env) => page.locator(`#rollout-envs tr[data-env="${env}"]`);

test('the card counts the clients of the subtree live, lists the laggards, and sees them catch up', async () => {
  const svc = uniqueService('ui-rollout');
  await api('POST', `/services/${svc}`);
  await api('POST', `/services/${svc}/config/prod`, { config: { color: 'blue' } });
  await api('POST', `/services/${svc}/config/prod/eu`, { config: {} });
  for (const name of ['a-0', 'a-1', 'a-2']) await api('PUT', `/services/${svc}/associations/${name}`, { env: 'prod' });
  for (const name of ['b-0', 'b-1']) await api('PUT', `/services/${svc}/associations/${name}`, { env: 'prod/eu' });

  await withPage(browser, server, `#/services/${svc}/prod`, async (page) => {
    await page.locator('#live', { hasText: '● live' }).waitFor();
    // No client yet: said so, with why some clients are never counted.
    await head(page).filter({ hasText: 'No registered clients' }).waitFor();
    assert.match(await page.locator('#rollout').innerText(), /original Jones do not register/);

    const a = fleet({ service: svc, clients: 3, prefix: 'a-' });
    const b = fleet({ service: svc, clients: 2, prefix: 'b-' });
    await Promise.all([a.ready(), b.ready()]);
    // The fleets registered after the page opened: only live reports
    // bring them in.
    await head(page).filter({ hasText: 'Applied by 5 of 5 clients' }).waitFor({ timeout: 20_000 });
    await envRow(page, 'prod').filter({ hasText: '3 of 3' }).waitFor();
    await envRow(page, 'prod/eu').filter({ hasText: '2 of 2' }).waitFor();
    assert.equal(await page.locator('#rollout-behind').count(), 0);

    // b's clients stop reading; their sessions stay registered.
    b.pause();
    await setEditorText(page, '{"color": "green"}');
    await saveWithReview(page);
    await page.locator('.message', { hasText: 'Saved prod' }).waitFor();
    const saved = (await api('GET', `/services/${svc}/config/prod`)).version;
    await page.locator('#rollout-saved', { hasText: `version ${saved}` }).waitFor();

    // a applies it; b is behind, by revision and lag, in prod/eu, whose
    // view the save changed too.
    await head(page).filter({ hasText: 'Applied by 3 of 5 clients' }).waitFor({ timeout: 20_000 });
    await envRow(page, 'prod').filter({ hasText: String(saved) }).filter({ hasText: '3 of 3' }).waitFor();
    await envRow(page, 'prod/eu').filter({ hasText: 'includes your save' }).filter({ hasText: '0 of 2' }).waitFor();
    const behind = page.locator('#rollout-behind tbody tr');
    await page.locator('#rollout-behind h3', { hasText: 'Behind (2)' }).waitFor();
    assert.equal(await behind.count(), 2);
    const rows = (await behind.allInnerTexts()).map((t) => t.split('\t').map((c) => c.trim()));
    assert.deepEqual(rows.map((r) => r[0]).sort(), ['b-0', 'b-1']);
    for (const [, env, , pid, revision, lag] of rows) {
      assert.equal(env, 'prod/eu');
      assert.equal(pid, String(b.pid));
      assert.ok(Number(revision) < saved, `behind at revision ${revision}, before ${saved}`);
      assert.match(lag, /^\d+(\.\d)? (ms|s)$/);
    }
    await screenshot(page, 'rollout-behind');

    // b goes on: it applies the save, the card says so without a reload.
    b.resume();
    await head(page).filter({ hasText: 'Applied by 5 of 5 clients · all applied' }).waitFor({ timeout: 20_000 });
    await envRow(page, 'prod/eu').filter({ hasText: '2 of 2' }).waitFor();
    assert.equal(await page.locator('#rollout-behind').count(), 0);
    const green = b.lines.length;
    await Promise.all([a.stop(), b.stop()]);
    assert.ok(green > 0);
    // Closed clients leave the registry, and the card.
    await head(page).filter({ hasText: 'No registered clients' }).waitFor({ timeout: 20_000 });
  });
});

test('typing goes on untouched while registry reports arrive', async () => {
  const svc = uniqueService('ui-rollout-typing');
  await api('POST', `/services/${svc}`);
  await api('POST', `/services/${svc}/config/prod`, { config: { color: 'blue' } });
  for (let i = 0; i < 4; i++) await api('PUT', `/services/${svc}/associations/t-${i}`, { env: 'prod' });

  await withPage(browser, server, `#/services/${svc}/prod`, async (page) => {
    await page.locator('#live', { hasText: '● live' }).waitFor();
    await head(page).filter({ hasText: 'No registered clients' }).waitFor();
    const editorHasFocus = () => page.evaluate(() => document.querySelector('#config-editor').contains(document.activeElement));

    // Into the JSON editor, between the reports of clients registering.
    const editor = page.locator('#config-editor');
    await editor.locator('button[title^="Switch to text mode"]').first().click();
    await editor.locator('.cm-content').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.type('{"color": ');
    const f = fleet({ service: svc, clients: 4, prefix: 't-' });
    await head(page).filter({ hasText: /Applied by \d of \d/ }).waitFor({ timeout: 20_000 });
    await page.keyboard.type('"typed while', { delay: 20 });
    await f.ready();
    await head(page).filter({ hasText: 'Applied by 4 of 4 clients' }).waitFor({ timeout: 20_000 });
    assert.ok(await editorHasFocus(), 'the editor kept the focus');
    await page.keyboard.type(' clients register"}');
    const typed = '{"color": "typed while clients register"}';
    assert.equal((await editor.locator('.cm-content').innerText()).trim(), typed);
    await page.locator('#edit-status', { hasText: 'Unsaved changes' }).waitFor();

    // Into a field, while another writer's save makes every client apply
    // and report again.
    const field = page.locator('#assoc-name');
    await field.click();
    await page.keyboard.type('half-typed');
    await field.evaluate((el) => el.setSelectionRange(2, 6));
    const root = await api('GET', `/services/${svc}/config`);
    const saved = await api('PUT', `/services/${svc}/config`, { config: { other: 1 }, version: root.version });
    await envRow(page, 'prod').filter({ hasText: String(saved.version) }).filter({ hasText: '4 of 4' }).waitFor({ timeout: 20_000 });
    assert.deepEqual(await field.evaluate((el) => [document.activeElement === el, el.value, el.selectionStart, el.selectionEnd]),
      [true, 'half-typed', 2, 6]);
    await page.keyboard.type('X');
    assert.equal(await field.inputValue(), 'haXyped');
    // The JSON edit is still there too.
    assert.equal((await editor.locator('.cm-content').innerText()).trim(), typed);
    await f.stop();
  });
});

test('summarize adds up the environment and those below it, most lagging first', () => {
  const report = {
    invalid: 2,
    environments: [
      { env: '', view_revision: 1, clients: 1, applied: 1, behind: [] },
      { env: 'prod', view_revision: 9, clients: 3, applied: 1, behind: [{ id: 'c2', revision: 3, lag_ms: 100 }, { id: 'c1', revision: null, lag_ms: 100 }] },
      { env: 'prod/eu', view_revision: 9, clients: 2, applied: 1, behind: [{ id: 'c3', revision: 4, lag_ms: 5000 }] },
      { env: 'production', view_revision: 9, clients: 9, applied: 0, behind: [{ id: 'c4', revision: 1, lag_ms: 9000 }] },
    ],
  };
  const s = summarize(report, 'prod');
  assert.deepEqual(s.envs.map((e) => e.env), ['prod', 'prod/eu']);
  assert.equal(s.clients, 5);
  assert.equal(s.applied, 2);
  assert.equal(s.behindTotal, 3);
  assert.deepEqual(s.behind.map((b) => `${b.env}:${b.id}`), ['prod/eu:c3', 'prod:c1', 'prod:c2']);
  assert.equal(s.invalid, 2);
  assert.equal(summarize(report, '').clients, 15);
  assert.equal(summarize({ service: 's', clients: 0, environments: [] }, 'prod').clients, 0);
  assert.deepEqual([lagText(850), lagText(3400), lagText(125_000), lagText(null)], ['850 ms', '3.4 s', '2 min 5 s', '—']);
});
