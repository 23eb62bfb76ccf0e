// One environment: its config in a JSON editor, the inherited view with
// the origin of every key, how far its rollout got, its associations, raw
// JSON; saving with a diff, the version read, and a conflict view that
// keeps the user's edit.

import { api } from './api.js';
import { canonical, renderDiff } from './diff.js';
import { applyPicks, merge3 } from './merge3.js';
import { dialog, h, notify, pageKey, preview, replaceKeepingFocus, showError } from './dom.js';
import { createJSONEditor } from './vendor/vanilla-jsoneditor/standalone.js';
import { associationProblem } from './names.js';
import { RolloutCard } from './rollout.js';
import { renderPreview, renderViolations } from './review.js';
import { HistoryPanel } from './history.js';
import { RESTORABLE, rollBack } from './rollback.js';
import { pinTo, renderPinCard, unpin } from './pins.js';
import { SchemaCheck } from './schema.js';
import { may } from './signin.js';

const envLabel = (env) => (env === '' ? 'root' : env);
/** Where the editor mode the user picked is remembered. */
const MODE_KEY = 'jones-editor-mode';

/** The mode to open `config` in: text for an empty config (a tree of
 * nothing offers nowhere to type), else the mode last picked. */
function editorMode(config) {
  if (Object.keys(config).length === 0) return 'text';
  try {
    return localStorage.getItem(MODE_KEY) || 'tree';
  } catch {
    return 'tree';
  }
}
/** Longer than the editor's text mode waits before reporting a change. */
const EDITOR_SETTLE_MS = 350;

export class EnvPanel {
  constructor(svc, env, { allEnvs, onNavigate, onTreeChanged, clients = () => null, pin = () => null, onPinsChanged = async () => {}, merge = () => 'shallow', serviceReadOnly = false }) {
    this.svc = svc;
    // A service whose name predates the rules: read, never changed here
    // (deleting it is on the services page).
    this.serviceReadOnly = serviceReadOnly;
    this.env = env;
    this.allEnvs = allEnvs;
    this.onNavigate = onNavigate;
    this.onTreeChanged = onTreeChanged;
    // The service's latest registry report, for the rollout card.
    this.clients = clients;
    // The pin of this environment (GET .../pins, kept by the service page), or null.
    this.pin = pin;
    this.onPinsChanged = onPinsChanged;
    // The service's merge mode, for checking the would-be view against the schema.
    this.merge = merge;
    // The page this panel is: its messages, even those of answers that
    // arrive after the user left, belong to it.
    this.page = pageKey(svc, env);
    this.base = null; // {version, config}: what the editor's edit starts from
    this.data = null; // the last GET of this environment
    this.conflict = null; // {version, config} on the server after a 409
    this.staleVersion = null; // newer version seen on the server while editing
    this.problem = null; // why the edit cannot be saved
    // Whether the user typed into the editor since it was loaded. Read
    // from raw input events, which arrive at once, unlike the editor's own
    // change notifications (debounced in text mode): a change made
    // elsewhere never replaces or rebases an edit in progress.
    this.touched = false;
    this.root = h('section.env-panel', { 'aria-label': `Environment ${envLabel(env)}` });
    // Ctrl+S (Cmd+S) reviews and saves, as in any editor. The editor's text
    // mode hands over what was typed when it loses focus (it debounces
    // changes), so take the focus first, then look at the edit.
    this.root.addEventListener('keydown', (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
        e.preventDefault();
        if (this.root.contains(document.activeElement)) document.activeElement.blur();
        setTimeout(() => {
          if (!this.saveButton) return;
          this.updateStatus();
          if (!this.saveButton.disabled) this.save();
        });
      }
    }, true);
  }

  /** A message on this panel's page. */
  say(message, kind = 'info') {
    return notify(message, kind, this.page);
  }

  /** An error on this panel's page. */
  fail(error, what) {
    return showError(error, what, this.page);
  }

  async load() {
    this.root.replaceChildren(h('p.muted', {}, 'Loading…'));
    try {
      this.data = await api.env(this.svc, this.env);
    } catch (e) {
      this.fail(e, `Cannot load ${envLabel(this.env)}`);
      this.root.replaceChildren(h('p.muted', {}, `The environment ${envLabel(this.env)} could not be loaded.`));
      return this.root;
    }
    this.base = { version: this.data.version, config: this.data.config };
    this.render();
    return this.root;
  }

  destroy() {
    this.rollout?.destroy();
    this.schemaCheck?.detach();
    this.observer?.disconnect();
    this.editor && this.editor.destroy();
    this.editor = null;
  }

  /** The edited config, or throws an Error saying why it is not one. */
  edited() {
    const content = this.editor.get();
    let value = content.json;
    if (content.text !== undefined) {
      try {
        value = JSON.parse(content.text);
      } catch (e) {
        throw new Error(`Invalid JSON: ${e.message}`);
      }
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
      throw new Error(`A config must be a JSON object, not ${kind}.`);
    }
    return value;
  }

  isDirty() {
    try {
      return canonical(this.edited()) !== canonical(this.base.config);
    } catch {
      return true;
    }
  }

  render() {
    this.destroy();
    const d = this.data;
    this.status = h('div.edit-status', { id: 'edit-status', 'aria-live': 'polite' });
    this.saveButton = h('button.primary', { id: 'save', type: 'button', title: 'Ctrl+S', onclick: () => this.save() }, 'Review & save');
    this.revertButton = h('button.secondary', { type: 'button', onclick: () => this.revert() }, 'Revert');
    const header = h(
      'header.env-header',
      {},
      h('div', {},
        h('h1', {}, envLabel(this.env)),
        h('span.badge', { id: 'env-version', title: 'Version of this environment’s config: the ZooKeeper transaction of its last change, which never repeats' }, this.versionText()),
        this.pinBadge = h('span.badge.pin-badge', { id: 'pin-badge', hidden: true })),
      // Nothing that writes is offered on what cannot be changed; an old
      // environment of a writable service can still be deleted.
      h('div.actions', {},
        this.readOnly() ? null : this.revertButton,
        this.readOnly() ? null : this.saveButton,
        this.env !== '' && !this.serviceReadOnly && may('admin', this.svc) ? h('button.danger', { type: 'button', onclick: () => this.remove() }, 'Delete…') : null),
    );
    this.banner = h('div.banners', { id: 'banners' });
    const editorHost = h('div.editor', { id: 'config-editor' });
    this.viewHost = h('div', { id: 'view-table' });
    this.assocHost = h('div', { id: 'associations' });
    this.assocList = null;
    this.rawHost = h('div', { id: 'raw-json' });
    this.rollout = new RolloutCard(this.env, this.clients());
    this.pinHost = h('div', { id: 'pin-host' });
    // A pinned environment's view does not follow its config: the server judges it.
    this.schemaCheck = new SchemaCheck(this.svc, this.env, { merge: this.merge, skip: () => this.readOnly() || !!this.pin() });
    this.history = new HistoryPanel(this.svc, { env: this.env, page: this.page, actions: (entry) => this.historyActions(entry) });
    this.root.replaceChildren(
      header,
      this.banner,
      this.pinHost,
      h('div.columns', {},
        h('section.card', {}, h('h2', {}, 'Own config'),
          h('p.help', {}, 'Keys set here override the same keys of the environments above.'), editorHost, this.status,
          this.schemaCheck.root),
        h('section.card', {}, h('h2', {}, 'Inherited view'),
          h('p.help', {}, 'What apps associated with this environment read.'), this.viewHost)),
      this.rollout.root,
      h('section.card', {}, h('h2', {}, 'Associations'), this.assocHost),
      h('section.card', {}, h('h2', {}, 'Raw JSON'), this.rawHost),
      this.history.root,
    );
    for (const type of ['keydown', 'beforeinput', 'input', 'paste', 'cut', 'drop', 'compositionstart']) {
      editorHost.addEventListener(type, () => (this.touched = true), true);
    }
    // Any change of the editor's text, however it was made (typing, IME,
    // pasting, a script), is seen here first; see `settle`.
    this.observer?.disconnect();
    this.observer = new MutationObserver(() => (this.lastInput = performance.now()));
    this.observer.observe(editorHost, { subtree: true, childList: true, characterData: true });
    this.touched = false;
    this.editor = createJSONEditor({
      target: editorHost,
      props: {
        content: { json: this.base.config },
        mode: editorMode(this.base.config),
        readOnly: this.readOnly(),
        navigationBar: false,
        askToFormat: false,
        onChange: () => this.updateStatus(),
        onChangeMode: (mode) => {
          try {
            localStorage.setItem(MODE_KEY, mode);
          } catch {
            // Private windows may refuse storage: the mode is then not remembered.
          }
        },
      },
    });
    this.renderView();
    this.renderAssociations();
    this.renderRaw();
    this.renderBanners();
    this.renderPin();
    this.updateStatus();
    this.history.refresh();
    this.schemaCheck.attach(this.editor);
  }

  /** Whether this environment can only be read (its name, or its service's, predates the rules). */
  readOnly() {
    return this.serviceReadOnly || !!this.data.read_only || !may('editor', this.svc);
  }

  /** The version the edit is based on, and the server's when it differs:
   * the same numbers the banners and the raw JSON show. */
  versionText() {
    const server = this.data.version;
    return server === this.base.version
      ? `version ${this.base.version}`
      : `editing version ${this.base.version} · version ${server} on the server`;
  }

  updateStatus() {
    let problem = null;
    try {
      this.edited();
    } catch (e) {
      problem = e.message;
    }
    this.problem = problem;
    const dirty = this.isDirty();
    this.saveButton.disabled = !!problem || !dirty || !!this.data.read_only;
    this.revertButton.disabled = !dirty;
    this.status.className = `edit-status ${problem ? 'problem' : dirty ? 'dirty' : ''}`;
    this.status.textContent = problem
      ? `Cannot save: ${problem}`
      : dirty
        ? `Unsaved changes (based on version ${this.base.version}).`
        : 'No changes.';
  }

  renderView() {
    const view = this.data.view || {};
    const origins = this.data.origins || {};
    const overrides = new Set(this.data.overrides || []);
    const own = this.data.config || {};
    const rows = Object.keys(view).map((key) => {
      const from = key in origins ? origins[key] : key in own ? this.env : null;
      const isOwn = from === this.env;
      const origin = isOwn
        ? h('span.origin.own', {}, overrides.has(key) ? 'own · overrides parent' : 'own')
        : h('a.origin.inherited', { href: '#', title: 'Open that environment', dataset: { focus: `origin:${key}` }, onclick: (e) => { e.preventDefault(); this.onNavigate(from ?? ''); } },
            `from ${from === null ? 'an ancestor' : envLabel(from)}`);
      return h('tr', { dataset: { key } }, h('th', { scope: 'row' }, key), h('td.value', {}, h('code', {}, preview(view[key]))), h('td', {}, origin));
    });
    replaceKeepingFocus(this.viewHost,
      rows.length
        ? h('table.view-table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'key'), h('th', {}, 'value'), h('th', {}, 'comes from'))), h('tbody', {}, rows))
        : h('p.muted', {}, 'The view is empty.'),
    );
  }

  /** The raw JSON; a section the user opened stays open when it is re-rendered. */
  renderRaw() {
    const open = new Set([...this.rawHost.querySelectorAll('details[open]')].map((d) => d.dataset.part));
    const block = (part, title, value) =>
      h('details', { dataset: { part }, open: open.has(part) }, h('summary', { dataset: { focus: `raw:${part}` } }, title), h('pre.json', {}, JSON.stringify(value, null, 2)));
    replaceKeepingFocus(this.rawHost,
      block('config', `Config on the server (version ${this.data.version})`, this.data.config),
      block('view', 'View', this.data.view),
    );
  }

  /**
   * The associations: a list of rows, re-rendered on every refresh, and the
   * form that adds one, built once per panel so what the user types in it
   * survives live updates. A move target the user picked in a row, and the
   * focus on a row's control, are carried over to the re-rendered row.
   */
  renderAssociations() {
    if (!this.assocList) {
      this.assocList = h('div', { id: 'association-list' });
      this.assocHost.replaceChildren(...[this.assocList, this.readOnly() ? null : this.buildAssociationForm()].filter(Boolean));
    }
    const picked = new Map();
    for (const row of this.assocList.querySelectorAll('.assoc-row')) {
      const select = row.querySelector('select');
      if (select && select.value !== this.env) picked.set(row.dataset.name, select.value);
    }
    const names = this.data.associations || [];
    const envs = this.allEnvs();
    const envOptions = (selected) => envs.map((e) => h('option', { value: e, selected: e === selected }, envLabel(e)));
    const rows = names.map((name) => {
      const choice = picked.has(name) && envs.includes(picked.get(name)) ? picked.get(name) : this.env;
      const target = h('select', { 'aria-label': `Move ${name} to`, dataset: { focus: `target:${name}` } }, envOptions(choice));
      if (this.readOnly()) return h('li.assoc-row', { dataset: { name } }, h('code', {}, name));
      return h('li.assoc-row', { dataset: { name } },
        h('code', {}, name),
        h('span.assoc-actions', {},
          target,
          h('button.secondary.small', { type: 'button', dataset: { focus: `move:${name}` }, onclick: () => this.associate(name, target.value, 'Moved') }, 'Move'),
          h('button.danger.small', { type: 'button', dataset: { focus: `remove:${name}` }, onclick: () => this.dissociate(name) }, 'Remove')));
    });
    replaceKeepingFocus(this.assocList,
      names.length ? h('ul.assoc-list', {}, rows) : h('p.muted', {}, this.env === '' ? 'Hosts without an association read the root view.' : 'No host is associated with this environment.'),
    );
  }

  buildAssociationForm() {
    const input = h('input', { id: 'assoc-name', type: 'text', placeholder: 'host name or any string', autocomplete: 'off', spellcheck: false });
    const problem = h('p.field-problem', { 'aria-live': 'polite' });
    const add = h('button.secondary', { type: 'submit', disabled: true }, 'Add association');
    const check = () => {
      const why = input.value ? associationProblem(input.value) : null;
      problem.textContent = why || '';
      add.disabled = !input.value || !!why;
    };
    input.addEventListener('input', check);
    return h('div', {},
      h('form.inline-form', {
        onsubmit: async (e) => {
          e.preventDefault();
          if (await this.associate(input.value, this.env, 'Associated')) {
            input.value = '';
            check();
          }
        },
      },
      h('label', { for: 'assoc-name' }, 'Associate'), input, add),
      problem,
    );
  }

  /** Points `name` at `env`; resolves with whether it was saved. */
  async associate(name, env, verb) {
    try {
      await api.associate(this.svc, name, env);
    } catch (e) {
      this.fail(e, `Cannot associate ${name}`);
      return false;
    }
    this.say(`${verb} ${name} → ${envLabel(env)}.`);
    await this.refresh();
    return true;
  }

  async dissociate(name) {
    const ok = await dialog(`Remove ${name}?`, h('p', {}, `${name} will read the root view.`), [
      { label: 'Cancel', value: false },
      { label: 'Remove association', kind: 'danger', value: true },
    ]);
    if (!ok) return;
    try {
      await api.dissociate(this.svc, name);
      this.say(`Removed ${name}.`);
      await this.refresh();
    } catch (e) {
      this.fail(e, `Cannot remove ${name}`);
    }
  }

  renderBanners() {
    const items = [];
    if (this.data.read_only) {
      items.push(h('div.banner.read-only', { id: 'read-only', role: 'status' }, h('p', {}, this.data.read_only)));
    }
    if (this.conflict) {
      const c = this.conflict;
      let mine = null;
      try {
        mine = this.edited();
      } catch {
        mine = null;
      }
      items.push(
        h('div.banner.conflict', { id: 'conflict', role: 'alert' },
          h('h3', {}, `Version conflict: version ${c.version} was saved while you edited version ${this.base.version}.`),
          h('p', {}, 'Your edit is kept in the editor. Below: the server’s current config against your edit.'),
          mine ? renderDiff(c.config, mine, [`server, version ${c.version}`, 'your edit']) : h('p.field-problem', {}, 'Your edit is not valid JSON.'),
          h('div.actions', {},
            h('button.primary', { id: 'reapply', type: 'button', onclick: () => this.reapply() }, `Merge my edit into version ${c.version}`),
            h('button.secondary', { id: 'discard', type: 'button', onclick: () => this.discard() }, 'Discard my edit'))),
      );
    } else if (this.staleVersion !== null) {
      items.push(
        h('div.banner.stale', { id: 'stale', role: 'status' },
          h('p', {}, `This environment changed elsewhere: version ${this.staleVersion} is on the server, your edit started from version ${this.base.version}. Saving will show you the difference.`),
          h('div.actions', {}, h('button.secondary', { id: 'discard-stale', type: 'button', onclick: () => this.discard() }, 'Discard my edit and load the latest'))),
      );
    }
    replaceKeepingFocus(this.banner, ...items);
  }

  async save() {
    await this.settle();
    let config;
    try {
      config = this.edited();
    } catch (e) {
      this.fail(e, 'Cannot save');
      return;
    }
    const review = await this.review(config);
    const refused = review.violations.length > 0;
    const confirmed = await dialog(
      `Save ${envLabel(this.env)}?`,
      h('div', {},
        review.node,
        refused ? h('p.field-problem', { id: 'save-refused' }, 'Save is disabled: the schema would refuse it. Change the config so every view satisfies the schema.') : null,
        h('p', {}, `Changes to version ${this.base.version}:`),
        renderDiff(this.base.config, config, [`version ${this.base.version}`, 'your edit'])),
      [{ label: 'Keep editing', value: false }, { label: review.hidden ? 'Save anyway' : 'Save', kind: 'primary', value: true, disabled: refused }],
    );
    if (!confirmed) return;
    let done;
    try {
      done = await api.saveEnv(this.svc, this.env, config, this.base.version);
    } catch (e) {
      if (e.status === 409 && e.body) {
        const b = e.body;
        this.onServerConfig({
          version: b.current_version ?? b.version,
          config: b.current_config ?? b.config ?? {},
        }, { conflict: true });
        // The inherited view went with that save too: read it (the edit stays).
        await this.refresh();
        this.say('Not saved: the environment changed on the server. Your edit is kept.', 'error');
        return;
      }
      if (e.status === 422 && e.body && e.body.kind === 'schema_violation') {
        await dialog('Not saved', renderViolations(e.body.violations || [], 'save-violations'), [{ label: 'Keep editing', value: null }]);
        return;
      }
      this.fail(e, 'Not saved');
      return;
    }
    this.say(`Saved ${envLabel(this.env)}.`);
    if (done && done.version !== undefined) this.rollout.saved(done.version);
    this.conflict = null;
    this.staleVersion = null;
    await this.refresh({ reloadEditor: true });
  }

  /**
   * Takes in a config the server reported (a GET, or the current config a
   * 409 carried), so that the header, the raw JSON and the conflict banner
   * all show the newest version known: never an older one than another
   * part of the page shows. `conflict` opens the conflict view.
   */
  onServerConfig({ version, config }, { conflict = false } = {}) {
    if (version > this.data.version) this.data = { ...this.data, version, config };
    if (conflict || this.conflict) this.conflict = { version: this.data.version, config: this.data.config };
    this.root.querySelector('#env-version').textContent = this.versionText();
    this.renderRaw();
    this.renderBanners();
  }

  /**
   * Waits until the editor has passed on what was just typed: its text
   * mode reports changes 300 ms after the last keystroke, so a save right
   * after typing would otherwise review the text before it.
   */
  async settle() {
    const wait = (this.lastInput ?? -Infinity) + EDITOR_SETTLE_MS - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  /**
   * What saving `config` would do, from the server's preview (see
   * review.js); an empty account when the server cannot tell: the save
   * itself will say what is wrong.
   */
  async review(config) {
    try {
      return renderPreview(await api.previewEnv(this.svc, this.env, config));
    } catch {
      return renderPreview(null);
    }
  }

  /**
   * Re-applies the user's edit on the server's current version as a
   * three-way merge (base: the version the edit started from): keys only
   * one side changed merge silently, keys both changed are the user's to
   * pick, and the result goes through the usual review before saving.
   */
  async reapply() {
    let mine;
    try {
      mine = this.edited();
    } catch (e) {
      this.fail(e, 'Cannot re-apply');
      return;
    }
    const theirs = this.conflict;
    const { merged, conflicts } = merge3(this.base.config, theirs.config, mine);
    let result = merged;
    if (conflicts.length) {
      const picks = await this.pickSides(conflicts, theirs.version);
      if (!picks) return;
      result = applyPicks(merged, conflicts, picks);
    }
    this.base = { version: theirs.version, config: theirs.config };
    this.conflict = null;
    this.staleVersion = null;
    this.editor.set({ json: result });
    this.touched = true;
    this.root.querySelector('#env-version').textContent = this.versionText();
    this.renderBanners();
    this.updateStatus();
    this.say(conflicts.length
      ? `Merged with version ${this.base.version}, ${conflicts.length} key(s) as you picked; review and save.`
      : `Merged your edit with version ${this.base.version}; review and save.`);
  }

  /** Asks, for each key both sides changed, which value to keep; null if cancelled. */
  async pickSides(conflicts, version) {
    const show = (v) => (v === undefined ? '(removed)' : preview(v));
    const rows = conflicts.map((c, i) => h('fieldset.pick', { dataset: { key: c.path.join('.') } },
      h('legend', {}, h('code', {}, c.path.join('.')), c.base === undefined ? ' (new on both sides)' : ` (was ${show(c.base)})`),
      h('label.check', {}, h('input', { type: 'radio', name: `pick-${i}`, value: 'theirs' }), ` server, version ${version}: `, h('code', {}, show(c.theirs))),
      h('label.check', {}, h('input', { type: 'radio', name: `pick-${i}`, value: 'mine', checked: true }), ' your edit: ', h('code', {}, show(c.mine)))));
    const body = h('div', { id: 'pick-sides' },
      h('p', {}, 'Both you and the server changed these keys. Everything else merged. Pick the value to keep:'), rows);
    const ok = await dialog('Merge your edit', body, [
      { label: 'Keep editing', value: false },
      { label: 'Use these values', kind: 'primary', value: true },
    ]);
    if (!ok) return null;
    return rows.map((row) => row.querySelector('input:checked').value);
  }


  async discard() {
    this.conflict = null;
    this.staleVersion = null;
    await this.refresh({ reloadEditor: true });
  }

  revert() {
    this.editor.set({ json: this.base.config });
    this.touched = false;
    this.updateStatus();
  }

  async remove() {
    let reach;
    try {
      reach = await api.previewDelete(this.svc, this.env);
    } catch (e) {
      this.fail(e, `Cannot delete ${envLabel(this.env)}`);
      return;
    }
    const below = reach.envs.slice(1);
    const subtree = h('input', { type: 'checkbox', id: 'delete-subtree' });
    const hosts = reach.associations;
    const body = h('div.reach', {},
      h('p', {}, `Its config and view are removed.`),
      below.length
        ? h('div', { id: 'reach-envs' },
            h('p.field-problem', {}, `${below.length} environment${below.length > 1 ? 's' : ''} below it:`),
            h('ul.reach-list', {}, below.map((e) => h('li', {}, h('code', {}, e)))),
            h('label.check', {}, subtree, ' Also delete every environment below it'))
        : null,
      hosts.length
        ? h('div', { id: 'reach-hosts' },
            h('p.field-problem', {}, `${hosts.length} host${hosts.length > 1 ? 's' : ''} lose${hosts.length > 1 ? '' : 's'} ${hosts.length > 1 ? 'their' : 'its'} association and will read the root config instead:`),
            h('ul.reach-list', {}, hosts.map((a) => h('li', {}, h('code', {}, a.name), ` (now ${envLabel(a.env)})`))),
            h('p', {}, 'The root config they will read: ', h('code', {}, preview(reach.fallback))))
        : h('p.muted', {}, 'No host is associated with it or below it.'));
    const pending = dialog(`Delete ${envLabel(this.env)}?`, body, [
      { label: 'Cancel', value: false },
      { label: 'Delete', kind: 'danger', value: true, disabled: below.length > 0 },
    ]);
    if (below.length) {
      const button = subtree.closest('dialog').buttons[1];
      subtree.addEventListener('change', () => (button.disabled = !subtree.checked));
    }
    if (!(await pending)) return;
    try {
      const done = await api.deleteEnv(this.svc, this.env, below.length > 0 && subtree.checked);
      const dropped = (done.associations || []).map((a) => a.name);
      const parent = this.env.includes('/') ? this.env.slice(0, this.env.lastIndexOf('/')) : '';
      await this.onTreeChanged(parent);
      // Said on the page the user is taken to.
      notify(`Deleted ${(done.envs || [this.env]).map(envLabel).join(', ')}.${dropped.length ? ` ${dropped.join(', ')} now read${dropped.length > 1 ? '' : 's'} the root config.` : ''}`,
        'info', pageKey(this.svc, parent));
    } catch (e) {
      this.fail(e, `Cannot delete ${envLabel(this.env)}`);
    }
  }

  /** Re-reads the environment; the editor keeps the user's edit unless told. */
  async refresh({ reloadEditor = false } = {}) {
    let data;
    try {
      data = await api.env(this.svc, this.env);
    } catch (e) {
      this.fail(e, `Cannot reload ${envLabel(this.env)}`);
      return;
    }
    this.data = data;
    if (this.conflict) this.conflict = { version: data.version, config: data.config };
    if (reloadEditor || (!this.touched && !this.isDirty())) {
      this.base = { version: data.version, config: data.config };
      this.editor.set({ json: data.config });
      this.touched = false;
      this.staleVersion = null;
    } else if (data.version !== this.base.version) {
      this.staleVersion = data.version;
    }
    this.root.querySelector('#env-version').textContent = this.versionText();
    this.renderView();
    this.renderAssociations();
    this.renderRaw();
    this.renderBanners();
    this.updateStatus();
    this.history.refresh();
    this.schemaCheck.update();
  }

  /** The pin card and badge; re-rendered alone when the pins change. */
  renderPin() {
    const pin = this.pin();
    this.pinBadge.hidden = !pin;
    this.pinBadge.textContent = pin ? `pinned at #${pin.to}` : '';
    const mayUnpin = pin && may('admin', this.svc) && !this.serviceReadOnly;
    replaceKeepingFocus(this.pinHost, ...(pin ? [renderPinCard(pin, mayUnpin ? () => this.unpin() : null)] : []));
  }

  /** What a history entry of this environment offers: roll back to it (editors), pin at it (admins). */
  historyActions(entry) {
    const buttons = [];
    const writable = !this.serviceReadOnly && !this.data.read_only;
    if (writable && may('editor', this.svc) && RESTORABLE.has(entry.action) && entry.env === this.env) {
      buttons.push(h('button.secondary.small.rollback', { type: 'button', dataset: { focus: `rollback:${entry.id}` }, onclick: () => this.rollBack(entry) }, `Roll back to #${entry.id}…`));
    }
    if (writable && may('admin', this.svc)) {
      buttons.push(h('button.secondary.small.pin', { type: 'button', dataset: { focus: `pin:${entry.id}` }, onclick: () => this.pinAt(entry) }, `Pin at #${entry.id}…`));
    }
    return buttons;
  }

  async rollBack(entry) {
    const done = await rollBack(this.svc, this.env, entry, this.page);
    if (!done) return;
    this.say(`Rolled ${envLabel(this.env)} back to #${entry.id}.`);
    if (done.version !== undefined) this.rollout.saved(done.version);
    await this.refresh();
  }

  async pinAt(entry) {
    if (!(await pinTo(this.svc, this.env, entry, this.page))) return;
    this.say(`Pinned ${envLabel(this.env)} at #${entry.id}.`);
    await this.onPinsChanged();
    await this.refresh();
  }

  async unpin() {
    const pin = this.pin();
    if (!pin || !(await unpin(this.svc, this.env, pin, this.page))) return;
    this.say(`Unpinned ${envLabel(this.env)}.`);
    await this.onPinsChanged();
    await this.refresh();
  }

  /** A newer report of the client registry: only the rollout card changes. */
  onClients(report) {
    this.rollout?.update(report);
  }

  /** The registry could not be read: said in the rollout card. */
  onClientsFailed(error) {
    this.rollout?.failed(error);
  }

  /** A change made elsewhere: refresh what it touched. */
  async onRemoteChange() {
    const before = this.base.version;
    const dirty = this.touched || this.isDirty();
    await this.refresh();
    if (this.data.version !== before) {
      this.say(dirty ? `${envLabel(this.env)} changed elsewhere while you were editing.` : `${envLabel(this.env)} was updated elsewhere; showing version ${this.data.version}.`);
    }
  }
}
