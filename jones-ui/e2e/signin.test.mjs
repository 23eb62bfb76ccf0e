// Signing in to the editor on a server with an admin token: the form, a
// wrong token refused, "signed in as …" with the account's roles, edit
// controls shown only to the roles that may use them, signing out.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { screenshot, startBrowser, startServer, withPage } from './harness.mjs';

const ADMIN = 'e2e-admin-token';
let server;
let browser;
const svc = `ui-roles-${process.pid}`;

before(async () => {
  server = await startServer({ adminToken: ADMIN });
  browser = await startBrowser();
  assert.equal((await server.api('POST', `/services/${svc}`)).status, 201);
  const env = await server.api('POST', `/services/${svc}/config/prod`, { config: { threads: 4 } });
  assert.equal(env.status, 201, JSON.stringify(env));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function account(name, role) {
  const made = await server.api('POST', '/accounts', { name, grants: [{ role, service: svc }] });
  assert.equal(made.status, 201, JSON.stringify(made));
  return made.body.token;
}

async function signIn(page, token) {
  await page.locator('#signin-token').fill(token);
  await page.locator('#signin button[type="submit"]').click();
}

test('a viewer signs in, sees no edit controls, and signs out', async () => {
  const token = await account(`viewer-${process.pid}`, 'viewer');
  await withPage(browser, server, `#/services/${svc}/prod`, async (page) => {
    await page.locator('#signin').waitFor();
    await screenshot(page, 'signin');
    await signIn(page, `jones_viewer-${process.pid}_${'A'.repeat(43)}`);
    await page.locator('#signin-problem', { hasText: 'cannot sign in' }).waitFor();
    await signIn(page, token);
    await page.locator('h1', { hasText: 'prod' }).waitFor();
    const who = await page.locator('#session-who').innerText();
    assert.match(who, new RegExp(`Signed in as viewer-${process.pid} \\(viewer on ${svc}\\)`));
    await page.locator('#config-editor').waitFor();
    assert.equal(await page.locator('#save').count(), 0, 'no save for a viewer');
    assert.equal(await page.locator('button', { hasText: 'Delete…' }).count(), 0);
    assert.equal(await page.locator('#merge-select').count(), 0);
    assert.equal(await page.locator('#assoc-name').count(), 0);
    assert.doesNotMatch(await page.locator('main').innerText(), /\bnull\b/, 'no stray "null" where a control was left out');
    await screenshot(page, 'signed-in-viewer');
    // The token is in an HttpOnly cookie: scripts cannot read it.
    assert.equal(await page.evaluate(() => document.cookie), '');
    await page.locator('#signout').click();
    await page.locator('#signin').waitFor();
  });
});

test('an editor may save but not delete, and the services page offers no create', async () => {
  const token = await account(`editor-${process.pid}`, 'editor');
  await withPage(browser, server, `#/services/${svc}/prod`, async (page) => {
    await signIn(page, token);
    await page.locator('#save').waitFor();
    assert.equal(await page.locator('button', { hasText: 'Delete…' }).count(), 0);
    assert.ok(await page.locator('#assoc-name').count(), 'an editor associates');
    assert.equal(await page.locator('#child-name').isVisible(), false, 'no environment create');
    await page.goto(`${server.url}/#/`);
    await page.locator('.service-list a', { hasText: svc }).waitFor();
    assert.equal(await page.locator('#new-service').count(), 0, 'no service create');
    assert.equal(await page.locator(`button[aria-label="Delete service ${svc}"]`).count(), 0);
  });
});

test('the admin token signs in as an admin of every service', async () => {
  await withPage(browser, server, '', async (page) => {
    await signIn(page, ADMIN);
    await page.locator('#new-service').waitFor();
    assert.match(await page.locator('#session-who').innerText(), /Signed in as admin \(admin on every service\)/);
    await page.locator(`button[aria-label="Delete service ${svc}"]`).waitFor();
  });
});

test('removing the signed-in account brings the sign-in back at once', async () => {
  const name = `gone-${process.pid}`;
  const token = await account(name, 'viewer');
  await withPage(browser, server, `#/services/${svc}/prod`, async (page) => {
    await signIn(page, token);
    await page.locator('.live-badge.is-live').waitFor();
    assert.equal((await server.api('DELETE', `/accounts/${name}`)).status, 200);
    await page.locator('#signin').waitFor();
  });
});
