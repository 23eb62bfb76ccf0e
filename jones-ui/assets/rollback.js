// Rolling an environment back to a history entry: what the rollback would
// set (the config right after the entry), reviewed as a save is (the diff
// from the current config, how far it reaches, what the schema says), an
// optional message, and the write with the version that was read. A change
// made meanwhile is a conflict, as for a save: it says who made it and
// offers to review again against the new config.

import { api } from './api.js';
import { renderDiff } from './diff.js';
import { dialog, h, showError } from './dom.js';
import { renderPreview, renderViolations } from './review.js';

const envLabel = (env) => (env === '' ? 'root' : env);

/** The config entries an environment can be rolled back to. */
export const RESTORABLE = new Set(['config.set', 'env.create', 'config.rollback']);

/** "alice set the config at 2026-12-07 16:03:12 UTC" for the newest entry of `env`, or null. */
async function lastChange(svc, env) {
  try {
    const [entry] = (await api.history(svc, { env, limit: 1 })).entries;
    if (!entry) return null;
    const at = String(entry.at || '').replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC');
    return `${entry.actor} (${entry.action}, #${entry.id}, ${at}${entry.message ? `: “${entry.message}”` : ''})`;
  } catch {
    return null;
  }
}

/** Shows the review; resolves with the message to send, or null when cancelled. */
async function review(svc, env, entry, current, target) {
  let found = null;
  try {
    found = await api.previewEnv(svc, env, target);
  } catch {
    // The server cannot tell: the rollback itself will say what is wrong.
  }
  const account = renderPreview(found);
  const refused = account.violations.length > 0;
  const message = h('input', { id: 'rollback-message', type: 'text', autocomplete: 'off', placeholder: 'why (optional)' });
  const body = h('div', { id: 'rollback-review' },
    h('p', {}, `Sets the config ${envLabel(env)} had right after #${entry.id} (${entry.actor}, ${entry.action}).`),
    account.node,
    refused ? h('p.field-problem', { id: 'rollback-refused' }, 'Rolling back is disabled: the schema would refuse it.') : null,
    h('p', {}, `Changes to version ${current.version}:`),
    renderDiff(current.config, target, [`version ${current.version} (now)`, `after #${entry.id}`]),
    h('label', { for: 'rollback-message' }, 'Message'),
    h('div.inline', {}, message));
  message.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !refused) message.closest('dialog').buttons[1].click();
  });
  const ok = await dialog(`Roll ${envLabel(env)} back to #${entry.id}?`, body, [
    { label: 'Cancel', value: false },
    { label: 'Roll back', kind: 'primary', value: true, disabled: refused },
  ]);
  return ok ? message.value : null;
}

/**
 * Rolls `env` of `svc` back to history entry `entry`, on `page` (for its
 * messages). Resolves with the server's answer, or null when nothing was
 * written.
 */
export async function rollBack(svc, env, entry, page) {
  let target;
  try {
    target = (await api.historyConfig(svc, entry.id)).config;
  } catch (e) {
    showError(e, `Cannot roll back to #${entry.id}`, page);
    return null;
  }
  for (;;) {
    let current;
    try {
      current = await api.env(svc, env);
    } catch (e) {
      showError(e, `Cannot read ${envLabel(env)}`, page);
      return null;
    }
    const message = await review(svc, env, entry, current, target);
    if (message === null) return null;
    try {
      return await api.rollback(svc, entry.id, current.version, message.trim() || undefined);
    } catch (e) {
      if (e.status === 409 && e.body) {
        const now = e.body.current_config ?? {};
        const who = await lastChange(svc, env);
        const again = await dialog(`${envLabel(env)} changed`, h('div', { id: 'rollback-conflict' },
          h('p', {}, `Not rolled back: ${envLabel(env)} changed while you reviewed (version ${e.body.current_version ?? '?'} is on the server, you reviewed version ${current.version}).`),
          who ? h('p', { id: 'rollback-conflict-who' }, `Changed by ${who}.`) : null,
          renderDiff(current.config, now, [`version ${current.version} (reviewed)`, `version ${e.body.current_version ?? '?'} (now)`])), [
          { label: 'Cancel', value: false },
          { label: 'Review again', kind: 'primary', value: true },
        ]);
        if (!again) return null;
        continue;
      }
      if (e.status === 422 && e.body && e.body.kind === 'schema_violation') {
        await dialog('Not rolled back', renderViolations(e.body.violations || [], 'rollback-violations'), [{ label: 'Close', value: null }]);
        return null;
      }
      showError(e, `Not rolled back to #${entry.id}`, page);
      return null;
    }
  }
}
