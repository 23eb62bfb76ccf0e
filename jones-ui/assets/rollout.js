// The rollout card of an environment: "applied by N of M clients", live,
// with the clients still behind.
//
// After a save of environment X the operator's question is whether every
// client the change reaches has applied it: the clients of X and of every
// environment below X, whose views inherit X's config. The card answers
// it for the selected environment from the server's report of the client
// registry (`GET .../clients` when the service opens or its stream
// reconnects, then every `clients` event of the stream): the total over
// the subtree, one row per environment with the view revision its clients
// are counted against, and the laggards with their lag. Only clients that
// register (jones-client) are counted; clients of original Jones do not.
//
// The card is its own element and re-renders on its own: it holds no
// field and nothing focusable, so a live update never touches what the
// user is typing elsewhere on the page.

import { h } from './dom.js';

const envLabel = (env) => (env === '' ? 'root' : env);
/** Laggards listed in the card at most; the rest are counted. */
export const MAX_LISTED = 25;
const UNREGISTERED = 'Only clients that register are counted (jones-client); clients of original Jones do not register.';
const REVISION_HELP = 'A view’s revision is the ZooKeeper transaction that last changed it: a save of version V gives every view it changes revision V (or later, when the save took several transactions).';

/** Whether environment `e` is `env` or below it. */
export function inSubtree(env, e) {
  return env === '' || e === env || e.startsWith(env + '/');
}

/**
 * The part of `report` (the body of `GET .../clients`) that environment
 * `env` answers for: its subtree's rows, totals, and laggards (each with
 * its `env`), most lagging first, then oldest revision.
 */
export function summarize(report, env) {
  const envs = (report && report.environments ? report.environments : []).filter((e) => inSubtree(env, e.env));
  const clients = envs.reduce((n, e) => n + e.clients, 0);
  const applied = envs.reduce((n, e) => n + e.applied, 0);
  const behind = envs
    .flatMap((e) => (e.behind || []).map((b) => ({ ...b, env: e.env })))
    .sort((a, b) => (b.lag_ms ?? -1) - (a.lag_ms ?? -1) || (a.revision ?? -1) - (b.revision ?? -1) || (a.id < b.id ? -1 : 1));
  return { envs, clients, applied, behind, behindTotal: clients - applied, invalid: (report && report.invalid) || 0 };
}

/** A lag in words: `850 ms`, `3.4 s`, `2 min 5 s`, `1 h 3 min`. */
export function lagText(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export class RolloutCard {
  constructor(env, report) {
    this.env = env;
    this.report = null;
    this.receivedAt = 0;
    this.error = null;
    this.savedVersion = null;
    this.ticker = null;
    this.body = h('div', { id: 'rollout-body', 'aria-live': 'polite' });
    this.root = h('section.card.rollout', { id: 'rollout', 'aria-label': 'Rollout' },
      h('h2', {}, 'Rollout ', h('span.muted.small', { title: UNREGISTERED }, 'registered clients, live')), this.body);
    if (report) this.update(report);
    else this.render();
  }

  /** A newer report of the registry. */
  update(report) {
    this.report = report;
    this.receivedAt = Date.now();
    this.error = null;
    this.render();
  }

  /** The registry could not be read (shown in the card, kept until a report comes). */
  failed(error) {
    if (this.report) return;
    this.error = error && error.message ? error.message : String(error);
    this.render();
  }

  /** This page saved version `version` of the environment. */
  saved(version) {
    this.savedVersion = version;
    this.render();
  }

  destroy() {
    clearInterval(this.ticker);
    this.ticker = null;
  }

  render() {
    this.destroy();
    if (!this.report) {
      this.body.replaceChildren(h('p.muted', {}, this.error ? `Cannot read the client registry: ${this.error}` : 'Reading the client registry…'));
      return;
    }
    const s = summarize(this.report, this.env);
    const scope = this.env === '' ? 'clients of this service' : `clients reading ${this.env} or an environment below it`;
    const parts = [];
    if (this.savedVersion !== null) {
      parts.push(h('p.rollout-saved', { id: 'rollout-saved', title: REVISION_HELP },
        `Your save: version ${this.savedVersion}. Views at revision ${this.savedVersion} or later include it.`));
    }
    if (s.clients === 0) {
      parts.push(h('p.rollout-head.none', { id: 'rollout-head' }, 'No registered clients'),
        h('p.help', { title: UNREGISTERED }, `No registered client reads ${envLabel(this.env)}${this.env === '' ? '' : ' or an environment below it'}. Clients of original Jones do not register and are not counted.`));
    } else {
      const done = s.applied === s.clients;
      parts.push(h(`p.rollout-head.${done ? 'done' : 'behind'}`, { id: 'rollout-head', title: UNREGISTERED },
        `Applied by ${s.applied} of ${s.clients} client${s.clients === 1 ? '' : 's'}`,
        h('span.rollout-state', {}, done ? ' · all applied' : ` · ${s.behindTotal} behind`)),
      h('p.help', {}, `${scope[0].toUpperCase()}${scope.slice(1)}, each counted against its view’s current revision.`));
      parts.push(this.renderRows(s), this.renderBehind(s));
    }
    if (s.invalid > 0) {
      parts.push(h('p.field-problem', { id: 'rollout-invalid', title: 'Registrations under /services/{svc}/clients that are not client records; see GET …/clients' },
        `${s.invalid} unreadable registration${s.invalid === 1 ? '' : 's'} in this service (not counted).`));
    }
    this.body.replaceChildren(...parts);
    if (s.behind.length) this.ticker = setInterval(() => this.tick(), 1000);
  }

  /** One row per environment of the subtree that has registered clients. */
  renderRows(s) {
    const rows = s.envs.map((e) => {
      const includes = this.savedVersion !== null && e.view_revision !== null && e.view_revision >= this.savedVersion;
      const mark = this.savedVersion === null ? null
        : includes ? h('span.rollout-mark.in', {}, ' includes your save') : h('span.rollout-mark', {}, ' not changed by your save');
      return h('tr', { dataset: { env: e.env } },
        h('th', { scope: 'row' }, envLabel(e.env)),
        h('td', {}, h('code', {}, e.view_revision === null ? 'no view' : String(e.view_revision)), mark),
        h('td.count', {}, `${e.applied} of ${e.clients}`));
    });
    return h('table.view-table.rollout-envs', { id: 'rollout-envs' },
      h('thead', {}, h('tr', {}, h('th', {}, 'environment'), h('th', { title: REVISION_HELP }, 'view revision'), h('th', {}, 'applied'))),
      h('tbody', {}, rows));
  }

  /** The laggards, most lagging first; a count of those not listed. */
  renderBehind(s) {
    if (s.behindTotal === 0) return null;
    const listed = s.behind.slice(0, MAX_LISTED);
    const manyEnvs = s.envs.length > 1;
    const rows = listed.map((b) => h('tr', { dataset: { id: b.id } },
      h('td', {}, h('code', {}, b.association)),
      manyEnvs ? h('td', {}, envLabel(b.env)) : null,
      h('td', {}, b.host),
      h('td', {}, String(b.pid)),
      h('td', {}, h('code', {}, b.revision === null ? 'none yet' : String(b.revision))),
      h('td.lag', { dataset: { lag: b.lag_ms ?? '' } }, lagText(this.lagNow(b.lag_ms)))));
    const more = s.behindTotal - listed.length;
    return h('div.rollout-behind', { id: 'rollout-behind' },
      h('h3', {}, `Behind (${s.behindTotal})`),
      h('table.view-table', {},
        h('thead', {}, h('tr', {}, h('th', {}, 'association'), manyEnvs ? h('th', {}, 'environment') : null, h('th', {}, 'host'), h('th', {}, 'pid'), h('th', {}, 'revision'), h('th', { title: 'Time since the view’s current revision was written' }, 'lag'))),
        h('tbody', {}, rows)),
      more > 0 ? h('p.muted', { id: 'rollout-more' }, `and ${more} more behind, not listed`) : null);
  }

  /** A lag of the report, grown by the time since it came. */
  lagNow(lag) {
    return lag === null || lag === undefined ? null : lag + Math.max(0, Date.now() - this.receivedAt);
  }

  /** Moves the listed lags on; touches only their text. */
  tick() {
    if (!this.root.isConnected) return;
    for (const cell of this.body.querySelectorAll('td.lag')) {
      const lag = cell.dataset.lag === '' ? null : Number(cell.dataset.lag);
      const text = lagText(this.lagNow(lag));
      if (cell.textContent !== text) cell.textContent = text;
    }
  }
}
