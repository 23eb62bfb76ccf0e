// What a config change would do, from the server's preview, for the review
// dialogs of a save and of a rollback: how far it reaches (environments and
// hosts), each view it rewrites with its per-key changes and the
// associations reading it, the inherited keys it hides, and the schema
// violations that would refuse it.

import { h, preview } from './dom.js';

const envLabel = (env) => (env === '' ? 'root' : env);
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "prod at /pool: 0 is less than the minimum of 1", one item each. */
export function renderViolations(violations, id = 'violations') {
  return h('div.field-problem', { id, role: 'alert' },
    h('p', {}, `The service’s schema refuses this change (${plural(violations.length, 'violation')}):`),
    h('ul', {}, violations.map((v) => h('li', { dataset: { env: v.env, pointer: v.pointer } },
      h('code', {}, envLabel(v.env)), ' at ', h('code', {}, v.pointer || '/'), `: ${v.message}`))));
}

function renderChange(c) {
  const value = (v) => (v === undefined ? null : h('code', {}, preview(v)));
  if (c.before === undefined) return h('li', {}, h('code', {}, c.key), ' added: ', value(c.after));
  if (c.after === undefined) return h('li', {}, h('code', {}, c.key), ' removed (was ', value(c.before), ')');
  return h('li', {}, h('code', {}, c.key), ': ', value(c.before), ' → ', value(c.after));
}

function renderView(v) {
  const more = v.association_count - v.associations.length;
  return h('li.reach-view', { dataset: { env: v.env } },
    h('strong', {}, h('code', {}, envLabel(v.env))),
    ` · ${plural(v.association_count, 'host')}`,
    v.changes.length ? h('ul', {}, v.changes.map(renderChange)) : null,
    v.association_count
      ? h('p.reach-hosts', {}, 'Read by ',
          v.associations.flatMap((name, i) => [i ? ', ' : '', h('code', {}, name)]),
          more > 0 ? ` and ${more} more` : '')
      : null);
}

function renderHidden(found) {
  return h('div.field-problem', { id: 'hidden-keys', role: 'alert' },
    h('p', {}, found.merge === 'shallow'
      ? 'This service merges shallowly (as original Jones): a key you set replaces the inherited value whole, nested keys included. Saving hides:'
      : 'Saving replaces inherited objects and hides:'),
    h('ul', {}, ...found.hidden.map((k) => h('li', {},
      `${envLabel(k.env)}’s view no longer has `, h('code', {}, k.key), ` (from ${envLabel(k.from)})`))));
}

/**
 * The review's account of a preview: `{node, hidden, violations}`, `node`
 * null when the server could not tell (the write itself will say what is
 * wrong). Servers from before reach and violations give only the hidden keys.
 */
export function renderPreview(found) {
  if (!found) return { node: null, hidden: false, violations: [] };
  const violations = found.violations || [];
  const hidden = !!found.hidden?.length;
  const views = found.views || [];
  const reach = found.reach
    ? h('div.reach', { id: 'reach' },
        h('p', { id: 'reach-count' },
          `Reaches ${plural(found.reach.envs, 'environment')} and ${plural(found.reach.associations, 'host')}`,
          found.reach.associations ? '' : ' (hosts without an association read the root view and are not counted)'),
        views.length ? h('ul.reach-list.reach-views', {}, views.map(renderView)) : null)
    : null;
  const node = h('div', {},
    violations.length ? renderViolations(violations) : null,
    hidden ? renderHidden(found) : null,
    reach);
  return { node, hidden, violations };
}
