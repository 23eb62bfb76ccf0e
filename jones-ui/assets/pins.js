// Pins: an environment whose view the server keeps as it was right after a
// history entry, whatever is edited above it. The card an environment
// panel shows while it is pinned (pinned at #ID, and what it would read
// unpinned as a diff), and pinning to an entry and unpinning, each with an
// optional message.

import { api } from './api.js';
import { renderDiff } from './diff.js';
import { dialog, h, showError } from './dom.js';
import { renderViolations } from './review.js';

const envLabel = (env) => (env === '' ? 'root' : env);

/** The pins of `svc` by environment. */
export async function loadPins(svc) {
  return new Map((await api.pins(svc)).map((p) => [p.env, p]));
}

/** Asks for a message; resolves with it, or null when cancelled. */
async function askMessage(title, explanation, action, kind) {
  const message = h('input', { id: 'pin-message', type: 'text', autocomplete: 'off', placeholder: 'why (optional)' });
  const body = h('div', {}, explanation, h('label', { for: 'pin-message' }, 'Message'), h('div.inline', {}, message));
  message.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') message.closest('dialog').buttons[1].click();
  });
  const ok = await dialog(title, body, [{ label: 'Cancel', value: false }, { label: action, kind, value: true }]);
  return ok ? message.value.trim() : null;
}

async function refused(e, what, page) {
  if (e.status === 422 && e.body && e.body.kind === 'schema_violation') {
    await dialog(what, renderViolations(e.body.violations || [], 'pin-violations'), [{ label: 'Close', value: null }]);
  } else {
    showError(e, what, page);
  }
}

/** Pins `env` to history entry `entry`; resolves with whether it was pinned. */
export async function pinTo(svc, env, entry, page) {
  const message = await askMessage(`Pin ${envLabel(env)} at #${entry.id}?`,
    h('p', {}, `Its view stays what it was right after #${entry.id} until it is unpinned, whatever is edited above it. Edits of the environments below it still land.`),
    'Pin', 'primary');
  if (message === null) return false;
  try {
    await api.pin(svc, env, entry.id, message || undefined);
    return true;
  } catch (e) {
    await refused(e, `Not pinned at #${entry.id}`, page);
    return false;
  }
}

/** Unpins `env`; resolves with whether it was unpinned. */
export async function unpin(svc, env, pin, page) {
  const message = await askMessage(`Unpin ${envLabel(env)}?`,
    h('div', {}, h('p', {}, 'Its view becomes the merge of its lineage again:'), renderDiff(pin.view, pin.unpinned, [`pinned at #${pin.to}`, 'unpinned'])),
    'Unpin', 'danger');
  if (message === null) return false;
  try {
    await api.unpin(svc, env, message || undefined);
    return true;
  } catch (e) {
    await refused(e, `Not unpinned`, page);
    return false;
  }
}

/** The card of a pinned environment; `onUnpin` null when the role may not unpin. */
export function renderPinCard(pin, onUnpin) {
  return h('section.card.pin-card', { id: 'pin', 'aria-label': 'Pin' },
    h('h2', {}, `Pinned at #${pin.to}`),
    h('p.help', {}, `Its view stays what it was right after #${pin.to}, whatever is edited above it; edits below it still land. Unpinned it would read:`),
    renderDiff(pin.view, pin.unpinned, [`view pinned at #${pin.to}`, 'unpinned']),
    onUnpin ? h('div.actions', {}, h('button.danger', { id: 'unpin', type: 'button', dataset: { focus: 'unpin' }, onclick: onUnpin }, 'Unpin…')) : null);
}
