// The history of a service, or of one of its environments: who changed
// what, when and why, newest first, a page at a time ("Older" follows the
// server's `next` cursor). Opening an entry shows the diff of what it
// changed; the page that shows the panel adds the actions an entry offers
// (roll back to it, pin to it). Entries never change once written, so a
// refresh only puts the new ones on top, and what the user opened and
// focused stays as it was.

import { api } from './api.js';
import { renderDiff } from './diff.js';
import { h, replaceKeepingFocus, showError } from './dom.js';

const PAGE = 20;
const envLabel = (env) => (env === '' ? 'root' : env);

/** What an action did, in words. */
const ACTIONS = {
  'service.create': 'created the service',
  'env.create': 'created the environment',
  'config.set': 'set the config',
  'config.rollback': 'rolled the config back',
  'env.delete': 'deleted the environment',
  'association.set': 'set an association',
  'association.remove': 'removed an association',
  'pin.set': 'pinned the view',
  'pin.remove': 'unpinned the view',
  'schema.set': 'set the schema',
  'schema.remove': 'removed the schema',
};

/** "2026-12-07 16:03:12 UTC" from the entry's RFC 3339 time. */
function timeText(at) {
  return typeof at === 'string' ? at.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC') : '';
}

/** What before and after are, for the diff's labels. */
function subject(entry) {
  if (entry.action.startsWith('pin.')) return 'view';
  if (entry.action.startsWith('schema.')) return 'schema';
  if (entry.action.startsWith('association.')) return 'environment';
  return 'config';
}

export class HistoryPanel {
  /**
   * `env`: the environment whose entries to show, or null for the whole
   * service. `actions(entry)` returns the buttons an entry offers here.
   */
  constructor(svc, { env = null, page, actions = () => [] }) {
    this.svc = svc;
    this.env = env;
    this.page = page;
    this.actions = actions;
    this.entries = [];
    this.next = null;
    this.loaded = false;
    this.seq = 0;
    const scope = env === null ? 'service' : 'env';
    this.list = h('div.history-list', { id: `history-${scope}-list` });
    this.root = h('section.card.history', { id: `history-${scope}`, 'aria-label': env === null ? 'History of the service' : `History of ${envLabel(env)}` },
      h('h2', {}, env === null ? 'History of the service' : 'History'),
      h('p.help', {}, env === null
        ? 'Every change to this service, newest first. Open an entry to see what it changed.'
        : 'Every change to this environment, newest first. Open an entry to see what it changed.'),
      this.list);
    this.render();
  }

  /** Reads the newest page and puts the entries not shown yet on top. */
  async refresh() {
    const seq = ++this.seq;
    let found;
    try {
      found = await api.history(this.svc, { env: this.env, limit: PAGE });
    } catch (e) {
      if (seq === this.seq) {
        this.failed = e.message;
        this.render();
      }
      return;
    }
    if (seq !== this.seq) return;
    this.failed = null;
    const top = this.entries.length ? this.entries[0].id : null;
    const fresh = top === null ? found.entries : found.entries.filter((e) => e.id > top);
    if (top === null || fresh.length === found.entries.length) {
      // Nothing shown yet, or more new entries than a page: start over.
      this.entries = found.entries;
      this.next = found.next ?? null;
    } else {
      this.entries = [...fresh, ...this.entries];
    }
    this.loaded = true;
    this.render();
  }

  /** Appends the next page of older entries. */
  async older() {
    if (this.next === null) return;
    let found;
    try {
      found = await api.history(this.svc, { env: this.env, limit: PAGE, before: this.next });
    } catch (e) {
      showError(e, 'Cannot read older history', this.page);
      return;
    }
    const last = this.entries.length ? this.entries[this.entries.length - 1].id : Infinity;
    this.entries.push(...found.entries.filter((e) => e.id < last));
    this.next = found.next ?? null;
    this.render();
  }

  render() {
    const open = new Set([...this.list.querySelectorAll('details[open]')].map((d) => d.dataset.id));
    if (this.failed && !this.entries.length) {
      replaceKeepingFocus(this.list, h('p.field-problem', {}, `The history cannot be read: ${this.failed}`));
      return;
    }
    if (!this.loaded) {
      replaceKeepingFocus(this.list, h('p.muted', {}, 'Loading…'));
      return;
    }
    const rows = this.entries.map((entry) => this.renderEntry(entry, open.has(String(entry.id))));
    const older = this.next !== null
      ? [h('button.secondary.small', { type: 'button', dataset: { focus: 'history-older' }, onclick: () => this.older() }, 'Older')]
      : [];
    replaceKeepingFocus(this.list,
      rows.length ? h('ol.history-entries', {}, rows) : h('p.muted', {}, 'No change is recorded.'),
      ...older);
  }

  renderEntry(entry, open) {
    const what = subject(entry);
    const omitted = [
      entry.before_omitted ? `This entry left its “before” out for size: it shows the ${what} the previous entry left.` : null,
      entry.after_omitted ? `This entry left its “after” out for size: it shows the ${what} committed with it, as the next entry or the stored ${what} tell.` : null,
    ].filter(Boolean);
    const body = h('div.history-body', {},
      entry.to !== undefined && entry.to !== null ? h('p', {}, `Went back to #${entry.to}.`) : null,
      omitted.map((text) => h('p.history-omitted', {}, text)),
      renderDiff(entry.before ?? null, entry.after ?? null, [
        `${what} before #${entry.id}${entry.before === null ? ' (none)' : ''}`,
        `${what} after #${entry.id}${entry.after === null ? ' (none)' : ''}`]),
      h('div.actions', {}, this.actions(entry)));
    return h('li.history-entry', { dataset: { id: String(entry.id), action: entry.action } },
      h('details', { dataset: { id: String(entry.id) }, open },
        h('summary', { dataset: { focus: `history:${entry.id}` } },
          h('span.history-id', {}, `#${entry.id}`), ' ',
          h('time', { dateTime: entry.at || '', title: entry.at || '' }, timeText(entry.at)), ' ',
          h('span.history-actor', {}, entry.actor || 'unknown'), ' ',
          h('span.history-action', { title: entry.action }, ACTIONS[entry.action] || entry.action),
          entry.association
            ? [' ', h('code', {}, entry.association), entry.action === 'association.remove' ? ' from ' : ' → ', h('code', {}, envLabel(entry.env ?? ''))]
            : this.env === null && entry.env !== null && entry.env !== undefined ? [' ', h('code', {}, envLabel(entry.env))] : null,
          entry.message ? [' · ', h('span.history-message', {}, entry.message)] : null),
        body));
  }
}
