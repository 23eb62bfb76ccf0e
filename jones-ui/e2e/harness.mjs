// Starts a real jones-server (dev mode: it runs its own ZooKeeper), fleets
// of real clients (the `fleet` example) and a headless Chromium for the
// browser tests, and stops them afterwards.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const targetDir = process.env.CARGO_TARGET_DIR || join(root, 'target');
export const screenshotDir = join(targetDir, 'e2e-screenshots');

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

async function waitFor(what, check, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms${last ? `: ${last.message}` : ''}`);
}

/**
 * Starts jones-server in dev mode on a free loopback port, or on `port`
 * (to stand in for a server that was stopped), with `adminToken` as its
 * `--admin-token` when given: `api` then sends it.
 */
export async function startServer({ port: wanted, adminToken } = {}) {
  const binary = process.env.JONES_SERVER_BIN || join(targetDir, 'debug', 'jones-server');
  const state = mkdtempSync(join(tmpdir(), 'jones-e2e-'));
  const port = wanted ?? (await freePort());
  const zkPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = ['--listen', `127.0.0.1:${port}`, '--state-dir', state, '--dev-zk-port', String(zkPort)];
  if (adminToken) args.push('--admin-token', adminToken);
  const child = spawn(binary, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await waitFor('jones-server /healthz', async () => {
      if (child.exitCode !== null) throw new Error(`jones-server exited:\n${output}`);
      return (await fetch(`${url}/healthz`)).ok;
    });
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n${output}`);
  }
  return {
    url,
    port,
    /** The dev-mode ZooKeeper, for writing trees as original Jones did. */
    zk: `127.0.0.1:${zkPort}`,
    api: (method, path, body) =>
      fetch(`${url}/api/v1${path}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...(adminToken ? { Authorization: `Bearer ${adminToken}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: await r.json().catch(() => null) })),
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(state, { recursive: true, force: true });
    },
  };
}

/**
 * Starts the `fleet` example (`cargo build -p jones-examples --example
 * fleet`): `clients` live jones-clients of `service` on `server`'s dev-mode
 * ZooKeeper, associations `{prefix}0`…, each registered in the client
 * registry. `lines` collects its JSON lines; `ready()` resolves once every
 * client is ready. `pause()`/`resume()` stop and continue the process
 * (SIGSTOP/SIGCONT: its sessions stay registered until they time out);
 * `stop()` ends it (its sessions close) and resolves once it exited.
 */
export function startFleet(server, { service, clients, prefix, key, sessionTimeoutMs = 20_000 }) {
  const binary = process.env.JONES_FLEET_BIN || join(targetDir, 'debug', 'examples', 'fleet');
  const args = ['--zk', server.zk, '--service', service, '--clients', String(clients), '--prefix', prefix, '--key', key,
    '--session-timeout-ms', String(sessionTimeoutMs)];
  const child = spawn(binary, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  const lines = [];
  let output = '';
  let partial = '';
  child.stdout.on('data', (d) => {
    partial += d;
    const done = partial.split('\n');
    partial = done.pop();
    for (const line of done) {
      try {
        lines.push(JSON.parse(line));
      } catch {
        output += line + '\n';
      }
    }
  });
  child.stderr.on('data', (d) => (output += d));
  let failed = null;
  child.once('error', (e) => (failed = e));
  const exited = new Promise((r) => child.once('close', r));
  let paused = false;
  return {
    pid: child.pid,
    lines,
    async ready(timeoutMs = 30_000) {
      await waitFor(`fleet ${prefix}: ${clients} clients ready`, () => {
        if (failed) throw new Error(`cannot run ${binary}: ${failed.message}`);
        if (child.exitCode !== null) throw new Error(`fleet exited: ${output}`);
        return lines.some((l) => l.ready === clients);
      }, timeoutMs);
    },
    pause() {
      child.kill('SIGSTOP');
      paused = true;
    },
    resume() {
      child.kill('SIGCONT');
      paused = false;
    },
    async stop() {
      if (failed || child.exitCode !== null || child.signalCode !== null) return;
      if (paused) this.resume();
      child.kill('SIGINT');
      const timer = new Promise((r) => setTimeout(() => r('timeout'), 10_000));
      if ((await Promise.race([exited, timer])) === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/**
 * Runs ZooKeeper's own shell (Debian's zkCli.sh) on `server`'s dev-mode
 * ZooKeeper, authenticated as the server's dev user, with `commands` one a
 * line; resolves with its output once it exits.
 */
export function zkCli(server, commands) {
  const binary = process.env.ZKCLI_BIN || '/usr/share/zookeeper/bin/zkCli.sh';
  const child = spawn(binary, ['-server', server.zk], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  child.stdin.end(['addauth digest jones:jones-dev', ...commands, 'quit', ''].join('\n'));
  return new Promise((ok, fail) => {
    child.once('error', fail);
    child.once('exit', () => ok(output));
  });
}

/** Launches Debian's Chromium headless, without its background network traffic. */
export async function startBrowser() {
  mkdirSync(screenshotDir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return browser;
}

/** A page of `server` that records every request leaving loopback. */
export async function openPage(browser, server) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  const foreign = [];
  page.on('request', (req) => {
    const u = req.url();
    if (!u.startsWith(server.url) && !u.startsWith('data:')) foreign.push(u);
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return { page, foreign, errors, close: () => context.close() };
}

/** Opens `server`'s page at `hash`, runs `body`, and checks nothing left loopback and no script failed. */
export async function withPage(browser, server, hash, body) {
  const tab = await openPage(browser, server);
  try {
    await tab.page.goto(`${server.url}/${hash}`);
    await body(tab.page);
    assert.deepEqual(tab.foreign, [], 'the page made requests to other hosts');
    assert.deepEqual(tab.errors, [], 'the page threw errors');
  } finally {
    await tab.close();
  }
}

/** Replaces the JSON editor's content by typing into its text mode. */
export async function setEditorText(page, text) {
  const editor = page.locator('#config-editor');
  // The mode buttons show once the editor is mounted, in every mode: wait
  // for them rather than count them, which can run before the mount.
  await editor.locator('button[title^="Switch to text mode"]').first().click();
  await editor.locator('.cm-content').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

export async function screenshot(page, name) {
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
}
