// The editor's details for daily use, in headless Chromium against a real
// jones-server on a real ZooKeeper: what a delete reaches, a new
// environment that can be typed into, the editor mode kept, messages that
// stay on their page, nothing offered for what does not exist, the
// connection state in words and colours, one version shown during a
// conflict, the service-wide list of associations, and a service named
// before the name rules: read-only, and deleted without typing what
// cannot be seen.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openPage, screenshot, startBrowser, startServer, zkCli } from './harness.mjs';

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

async function api(method, path, body, on = server) {
  const res = await on.api(method, path, body);
  assert.ok(res.status < 300, `${method} ${path}: ${JSON.stringify(res)}`);
  return res.body;
}

/** A service with the given [env, config] pairs ('' is the root) and [host, env] associations. */
async function createTree(svc, envs, associations = [], on = server) {
  await api('POST', `/services/${svc}`, undefined, on);
  for (const [env, config] of envs) {
    if (env === '') await putConfig(svc, '', config, on);
    else await api('POST', `/services/${svc}/config/${env}`, { config }, on);
  }
  for (const [host, env] of associations) await api('PUT', `/services/${svc}/associations/${host}`, { env }, on);
}

async function putConfig(svc, env, config, on = server) {
  const path = `/services/${svc}/config${env ? '/' + env : ''}`;
  const current = await api('GET', path, undefined, on);
  return api('PUT', path, { config, version: current.version }, on);
}

/** Opens a page of `on`, runs `body`, and checks nothing left loopback and no script failed. */
async function withPage(body, on = server) {
  const tab = await openPage(browser, on);
  try {
    await body(tab.page);
    assert.deepEqual(tab.foreign, [], 'the page made requests to other hosts');
    assert.deepEqual(tab.errors, [], 'the page threw errors');
  } finally {
    await tab.close();
  }
}

async function saveWithReview(page) {
  await page.locator('#save').click();
  const dialog = page.locator('dialog.modal');
  await dialog.waitFor();
  await dialog.locator('button', { hasText: /^Save$/ }).click();
}

const texts = (locator) => locator.evaluateAll((els) => els.map((el) => el.textContent.trim()));

test('the delete dialog lists every environment below and each host that falls back to the root, with what it will read', async () => {
  const svc = uniqueService('ui-reach');
  await createTree(svc, [
    ['', { db: { host: 'db1' } }],
    ['prod', { threads: 8 }],
    ['prod/eu', { region: 'eu' }],
    ['prod/eu/west-1', { zone: 'w1' }],
    ['other', {}],
  ], [['web-01.example.com', 'prod'], ['web-02.example.com', 'prod/eu/west-1'], ['web-03.example.com', 'other']]);
  await withPage(async (page) => {
    await page.goto(`${server.url}/#/services/${svc}/prod`);
    await page.locator('h1', { hasText: /^prod$/ }).waitFor();
    await page.locator('button', { hasText: 'Delete…' }).click();
    const dialog = page.locator('dialog.modal');
    await dialog.locator('#reach-hosts').waitFor();
    assert.deepEqual(await texts(dialog.locator('#reach-envs li')), ['prod/eu', 'prod/eu/west-1'], 'every descendant, not only the children');
    assert.deepEqual((await texts(dialog.locator('#reach-hosts li'))).sort(), [
      'web-01.example.com (now prod)',
      'web-02.example.com (now prod/eu/west-1)',
    ]);
    const hosts = await dialog.locator('#reach-hosts').innerText();
    assert.match(hosts, /2 hosts lose their association and will read the root config instead/);
    assert.match(hosts, /The root config they will read: \{"db":\{"host":"db1"\}\}/);
    assert.doesNotMatch(await dialog.innerText(), /web-03/, 'a host elsewhere is not reached');
    await screenshot(page, 'delete-reach');

    const confirm = dialog.locator('button.danger', { hasText: /^Delete$/ });
    assert.equal(await confirm.isDisabled(), true);
    await dialog.locator('#delete-subtree').check();
    await confirm.click();
    await page.locator('h1', { hasText: 'root' }).waitFor();
    // Said on the page the delete leads to.
    await page.locator('.message', { hasText: /web-0[12]\.example\.com, web-0[12]\.example\.com now read the root config/ }).waitFor();
  });
  const fallen = await api('GET', `/services/${svc}/resolve/web-02.example.com`);
  assert.deepEqual(fallen.config ?? fallen.view, { db: { host: 'db1' } });
  assert.equal((await api('GET', `/services/${svc}/resolve/web-03.example.com`)).env, 'other');
});

test('a new environment opens an editor that takes typing at once', async () => {
  const svc = uniqueService('ui-new-env');
  await createTree(svc, [['', { a: 1 }]]);
  await withPage(async (page) => {
    await page.goto(`${server.url}/#/services/${svc}`);
    await page.locator('h1', { hasText: 'root' }).waitFor();
    await page.locator('#child-name').fill('fresh');
    await page.locator('.add-child button', { hasText: 'Add' }).click();
    await page.locator('h1', { hasText: /^fresh$/ }).waitFor();
    // Typed straight into the editor as it opened: no mode switch.
    const content = page.locator('#config-editor .cm-content');
    await content.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.type('{"typed": true}');
    await page.locator('#edit-status', { hasText: 'Unsaved changes' }).waitFor();
    await saveWithReview(page);
    await page.locator('.message', { hasText: 'Saved fresh' }).waitFor();
  });
  assert.deepEqual((await api('GET', `/services/${svc}/config/fresh`)).config, { typed: true });
});

test('the editor mode picked is kept for other environments and after a reload', async () => {
  const svc = uniqueService('ui-mode');
  await createTree(svc, [['a', { x: 1 }], ['b', { y: 2 }]]);
  await withPage(async (page) => {
    const editor = page.locator('#config-editor');
    await page.goto(`${server.url}/#/services/${svc}/a`);
    await page.locator('h1', { hasText: /^a$/ }).waitFor();
    await editor.locator('.jse-tree-mode').waitFor();
    await editor.locator('button[title^="Switch to text mode"]').first().click();
    await editor.locator('.jse-text-mode').waitFor();

    await page.locator('.tree button.node[data-env="b"]').click();
    await page.locator('h1', { hasText: /^b$/ }).waitFor();
    await editor.locator('.jse-text-mode').waitFor();
    assert.equal(await editor.locator('.jse-tree-mode').count(), 0, 'b opens in text mode too');

    await page.reload();
    await page.locator('h1', { hasText: /^b$/ }).waitFor();
    await editor.locator('.jse-text-mode').waitFor();
    assert.equal(await editor.locator('.jse-tree-mode').count(), 0, 'and so after a reload');

    await editor.locator('button[title^="Switch to tree mode"]').first().click();
    await editor.locator('.jse-tree-mode').waitFor();
    await page.locator('.tree button.node[data-env="a"]').click();
    await page.locator('h1', { hasText: /^a$/ }).waitFor();
    await editor.locator('.jse-tree-mode').waitFor();
    assert.equal(await editor.locator('.jse-text-mode').count(), 0, 'the tree mode picked back is kept');
  });
});

/**
 * Holds the page's next request to remove association `host` until the
 * returned `release` is called; `release` lets it through to the server.
 */
async function holdRemoval(page, host) {
  let release;
  const released = new Promise((r) => (release = r));
  let arrived;
  const held = new Promise((r) => (arrived = r));
  const pattern = `**/associations/${host}`;
  await page.route(pattern, async (route) => {
    if (route.request().method() !== 'DELETE') return route.continue();
    arrived();
    await released;
    await route.continue();
  });
  return { held, release: () => release() };
}

async function removeAssociation(page, host) {
  await page.locator('#associations .assoc-row', { hasText: host }).locator('button', { hasText: 'Remove' }).click();
  await page.locator('dialog.modal button', { hasText: 'Remove association' }).click();
}

test('messages belong to the environment they were raised on, late answers included', async () => {
  const svc = uniqueService('ui-toasts');
  await createTree(svc, [['a', { x: 1 }], ['b', {}]], [['web-01', 'a'], ['web-02', 'a']]);
  await withPage(async (page) => {
    await page.goto(`${server.url}/#/services/${svc}/a`);
    await page.locator('#associations .assoc-row', { hasText: 'web-02' }).waitFor();

    // An error raised on a, while on a: shown there, gone once on b.
    const first = await holdRemoval(page, 'web-01');
    await removeAssociation(page, 'web-01');
    await first.held;
    await api('DELETE', `/services/${svc}/associations/web-01`);
    first.release();
    const error = page.locator('.message.error', { hasText: 'Cannot remove web-01' });
    await error.waitFor();
    await page.locator('.tree button.node[data-env="b"]').click();
    await page.locator('h1', { hasText: /^b$/ }).waitFor();
    await error.waitFor({ state: 'detached' });

    // A request started on a whose error arrives once the user is on b:
    // not shown on b, nor on a afterwards.
    await page.locator('.tree button.node[data-env="a"]').click();
    await page.locator('#associations .assoc-row', { hasText: 'web-02' }).waitFor();
    const second = await holdRemoval(page, 'web-02');
    await removeAssociation(page, 'web-02');
    await second.held;
    await api('DELETE', `/services/${svc}/associations/web-02`);
    await page.locator('.tree button.node[data-env="b"]').click();
    await page.locator('h1', { hasText: /^b$/ }).waitFor();
    const answered = page.waitForEvent('requestfinished', (r) => r.method() === 'DELETE');
    second.release();
    await answered;
    // Let the page run what the answer triggers, then raise a message on b
    // to be sure the page got that far.
    await page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
    await page.locator('#lookup-name').fill('web-09');
    await page.locator('.lookup button', { hasText: 'Look up' }).click();
    await page.locator('#lookup-result', { hasText: 'web-09' }).waitFor();
    assert.equal(await page.locator('.message', { hasText: 'web-02' }).count(), 0, 'a’s late error is not shown on b');
    await page.locator('.tree button.node[data-env="a"]').click();
    await page.locator('h1', { hasText: /^a$/ }).waitFor();
    assert.equal(await page.locator('.message', { hasText: 'web-02' }).count(), 0, 'nor on a later');
  });
});

test('nothing is offered for an environment that does not exist', async () => {
  const svc = uniqueService('ui-nope');
  await createTree(svc, [['parent', {}]]);
  await withPage(async (page) => {
    await page.goto(`${server.url}/#/services/${svc}/nope`);
    await page.locator('p', { hasText: 'The environment nope could not be loaded.' }).waitFor();
    await page.locator('.tree button.node[data-env="parent"]').waitFor();
    assert.equal(await page.locator('#child-name').isVisible(), false, 'no add-child form');
    assert.equal(await page.getByText('Add a child of nope').isVisible(), false);
    assert.equal(await page.locator('button', { hasText: 'Delete…' }).count(), 0);
    assert.equal(await page.locator('#save').count(), 0);

    await page.locator('.tree button.node[data-env="parent"]').click();
    await page.locator('h1', { hasText: /^parent$/ }).waitFor();
    await page.getByText('Add a child of parent').waitFor();
    assert.equal(await page.locator('#child-name').isVisible(), true);
  });
});

/** The live badge's words, class and colours. */
const badge = (page) => page.locator('#live').evaluate((el) => {
  const style = getComputedStyle(el);
  return { text: el.textContent, className: el.className, colours: `${style.color} on ${style.backgroundColor}` };
});

test('the connection state is shown in distinct words and colours: live, reconnecting, disconnected', async () => {
  // A server of its own: this test stops it.
  let own = await startServer();
  const svc = uniqueService('ui-conn');
  try {
    await createTree(svc, [['a', {}]], [], own);
    await withPage(async (page) => {
      await page.goto(`${own.url}/#/services/${svc}/a`);
      await page.locator('#live.is-live', { hasText: '● live' }).waitFor();
      const live = await badge(page);

      await own.stop();
      await page.locator('#live.is-reconnecting', { hasText: 'reconnecting' }).waitFor({ timeout: 30_000 });
      const reconnecting = await badge(page);

      // Another server on the same address, without that service: the
      // browser's reconnect is refused and it gives up for good.
      own = await startServer({ port: own.port });
      await page.locator('#live.is-disconnected', { hasText: 'disconnected' }).waitFor({ timeout: 60_000 });
      const disconnected = await badge(page);
      await screenshot(page, 'connection-disconnected');

      const states = [live, reconnecting, disconnected];
      for (const what of ['text', 'className', 'colours']) {
        assert.equal(new Set(states.map((s) => s[what])).size, 3, `three different ${what}: ${JSON.stringify(states)}`);
      }
    }, own);
  } finally {
    await own.stop();
  }
});

test('during a conflict the header, the raw JSON and the banner show the same version', async () => {
  const svc = uniqueService('ui-versions');
  await createTree(svc, [['parent', { a: 1, b: 1 }]]);
  await withPage(async (page) => {
    // No live updates: the page learns of the other save only from the 409.
    await page.route('**/events', (route) => route.abort());
    await page.goto(`${server.url}/#/services/${svc}/parent`);
    await page.locator('h1', { hasText: /^parent$/ }).waitFor();
    const started = (await api('GET', `/services/${svc}/config/parent`)).version;
    await page.locator('#env-version', { hasText: `version ${started}` }).waitFor();
    await page.locator('#config-editor button[title^="Switch to text mode"]').first().click();
    await page.locator('#config-editor .cm-content').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText('{"a": 10, "b": 1}');

    const other = (await putConfig(svc, 'parent', { a: 99, b: 2 })).version;
    await saveWithReview(page);
    await page.locator('#conflict').waitFor();
    const header = await page.locator('#env-version').innerText();
    assert.equal(header, `editing version ${started} · version ${other} on the server`);
    // The inherited view is the server's too.
    await page.locator('#view-table tr[data-key="a"] .value', { hasText: '99' }).waitFor();
    await page.locator('#raw-json summary').first().click();
    const raw = await page.locator('#raw-json details').first().innerText();
    assert.match(raw, new RegExp(`Config on the server \\(version ${other}\\)`));
    assert.match(raw, /"a": 99/);
    assert.match(await page.locator('#conflict h3').innerText(), new RegExp(`version ${other} was saved while you edited version ${started}`));
    await screenshot(page, 'conflict-versions');

    await page.locator('#reapply').click();
    await page.locator('dialog.modal #pick-sides').waitFor();
    await page.locator('dialog.modal button', { hasText: 'Use these values' }).click();
    await page.locator('.message', { hasText: `with version ${other}` }).waitFor();
    assert.equal(await page.locator('#env-version').innerText(), `version ${other}`, 'the merged edit is based on the server’s version');
    assert.match(await page.locator('#edit-status').innerText(), new RegExp(`based on version ${other}`));
    await saveWithReview(page);
    await page.locator('.message', { hasText: 'Saved parent' }).waitFor();
    const saved = await api('GET', `/services/${svc}/config/parent`);
    assert.deepEqual(saved.config, { a: 10, b: 2 });
    await page.locator('#env-version', { hasText: new RegExp(`^version ${saved.version}$`) }).waitFor();
    assert.match(await page.locator('#raw-json details').first().innerText(), new RegExp(`\\(version ${saved.version}\\)`));
  });
});

test('every association of the service in one list, with a search', async () => {
  const svc = uniqueService('ui-assoc-index');
  await createTree(svc, [['prod', {}], ['prod/eu', {}], ['other', {}]],
    [['web-01.example.com', 'prod'], ['web-02.example.com', 'prod/eu'], ['db-01.example.com', 'other']]);
  await withPage(async (page) => {
    await page.goto(`${server.url}/#/services/${svc}`);
    await page.locator('h1', { hasText: 'root' }).waitFor();
    const index = page.locator('#assoc-index');
    const names = () => index.locator('li').evaluateAll((els) => els.map((el) => el.dataset.name).sort());
    await index.locator('li').nth(2).waitFor();
    assert.deepEqual(await names(), ['db-01.example.com', 'web-01.example.com', 'web-02.example.com']);
    assert.match(await page.locator('.all-associations h3').innerText(), /\(3\)/);

    const search = page.locator('#assoc-search');
    await search.fill('web');
    await index.locator('li').nth(1).waitFor();
    assert.deepEqual(await names(), ['web-01.example.com', 'web-02.example.com']);
    await search.fill('eu');
    assert.deepEqual(await names(), ['web-02.example.com'], 'environments are searched too');
    await search.fill('nothing-like-it');
    await index.locator('p', { hasText: 'No association matches.' }).waitFor();

    // A host associated elsewhere appears at once; the search typed stays.
    await search.fill('db');
    await api('PUT', `/services/${svc}/associations/db-02.example.com`, { env: 'prod/eu' });
    await index.locator('li[data-name="db-02.example.com"]').waitFor({ timeout: 20_000 });
    assert.equal(await search.inputValue(), 'db');
    assert.deepEqual(await names(), ['db-01.example.com', 'db-02.example.com']);
    await screenshot(page, 'associations-search');

    await index.locator('li[data-name="db-02.example.com"] a').click();
    await page.locator('h1', { hasText: /^prod\/eu$/ }).waitFor();
  });
});

/** Writes service `svc` as original Jones did, straight into ZooKeeper, with `prod` and host web-01 on it. */
async function originalTree(svc) {
  const at = (tail) => `"/services/${svc}${tail}"`;
  const out = await zkCli(server, [
    "create /services ''",
    `create ${at('')} ''`,
    `create ${at('/conf')} '{"a": 1}'`,
    `create ${at('/conf/prod')} '{"b": 2}'`,
    `create ${at('/views')} '{"a": 1}'`,
    `create ${at('/views/prod')} '{"a": 1, "b": 2}'`,
    `create ${at('/nodemaps')} 'web-01 -> /services/${svc}/views/prod'`,
  ]);
  assert.equal((out.match(/^Created /gm) || []).length >= 6, true, out);
}

test('a service named before the rules offers nothing that writes, and is deleted by typing what is shown', async () => {
  const svc = ` spaced name ${process.pid}-${serial++} `;
  await originalTree(svc);
  const listed = await api('GET', '/services');
  assert.ok(listed.services.includes(svc), JSON.stringify(listed));
  await withPage(async (page) => {
    await page.goto(`${server.url}/#/services/${encodeURIComponent(svc)}/prod`);
    await page.locator('h1', { hasText: /^prod$/ }).waitFor();
    await page.locator('#read-only', { hasText: 'read-only' }).waitFor();
    await page.locator('#view-table tr[data-key="b"]').waitFor();
    await page.locator('#associations .assoc-row', { hasText: 'web-01' }).waitFor();
    for (const [what, locator] of [
      ['save', page.locator('#save')],
      ['revert', page.locator('button', { hasText: 'Revert' })],
      ['delete', page.locator('button', { hasText: 'Delete…' })],
      ['add association', page.locator('#assoc-name')],
      ['move or remove association', page.locator('#associations button')],
      ['merge switch', page.locator('#merge-select')],
    ]) {
      assert.equal(await locator.count(), 0, `no ${what} on a read-only service`);
    }
    assert.equal(await page.locator('#child-name').isVisible(), false, 'no add-child');
    assert.match(await page.locator('#merge-mode').innerText(), /read-only/);
    await screenshot(page, 'read-only-service');

    await page.goto(`${server.url}/#/`);
    const row = page.locator('.service-row', { hasText: `␣spaced name ${svc.trim().split(' ').pop()}␣` });
    await row.locator('.badge', { hasText: 'read-only' }).waitFor();
    await row.locator('button', { hasText: 'Delete' }).click();
    const dialog = page.locator('dialog.modal');
    await dialog.waitFor();
    assert.match(await dialog.locator('h2').innerText(), /“␣spaced name .*␣”/, 'the name is shown quoted, its spaces marked');
    const remove = dialog.locator('button.danger', { hasText: 'Delete service' });
    await dialog.locator('input').fill(svc);
    assert.equal(await remove.isDisabled(), true, 'the invisible spaces are not what is asked for');
    await dialog.locator('input').fill(svc.trim());
    await screenshot(page, 'delete-legacy-service');
    await remove.click();
    await page.locator('.message', { hasText: 'Deleted service “␣spaced name' }).waitFor();
  });
  const after = await api('GET', '/services');
  assert.ok(!after.services.includes(svc), JSON.stringify(after));
});
