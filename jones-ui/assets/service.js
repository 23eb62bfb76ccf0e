// A service page: the environment tree on the left (add, select, look up a
// host), the selected environment on the right, kept live by the server's
// event stream; the client registry's report goes to the rollout card.

import { api } from './api.js';
import { currentPage, dialog, h, notify, showError } from './dom.js';
import { EnvPanel } from './envpanel.js';
import { subscribe } from './live.js';
import { renderLookup } from './lookup.js';
import { segmentProblem } from './names.js';
import { may } from './signin.js';
import { AssociationIndex } from './associations.js';
import { HistoryPanel } from './history.js';
import { loadPins } from './pins.js';
import { allEnvs, findNode, focusNode, renderTree } from './tree.js';

export class ServicePage {
  constructor(main, svc, env, navigate) {
    this.main = main;
    this.svc = svc;
    this.env = env;
    this.navigate = navigate;
    this.tree = null;
    this.panel = null;
    this.pending = null;
    // The latest report of the client registry, and how many came as
    // events: a GET answered after a newer event is dropped.
    this.clients = null;
    this.clientsSeen = 0;
    // The pinned environments (GET .../pins), for the tree's badges and the panel.
    this.pins = new Map();
  }

  href(env) {
    const tail = env ? '/' + env.split('/').map(encodeURIComponent).join('/') : '';
    return `#/services/${encodeURIComponent(this.svc)}${tail}`;
  }

  async mount() {
    this.treeHost = h('nav.tree-host', { 'aria-label': 'Environment tree' });
    this.addHost = h('div');
    this.panelHost = h('div.panel-host');
    this.liveBadge = h('span.live-badge.is-connecting', { id: 'live', title: 'Changes made elsewhere appear here without a reload' }, '○ connecting…');
    this.mergeHost = h('div.merge-mode', { id: 'merge-mode' });
    this.assocIndex = new AssociationIndex(this.svc, (env) => this.navigate(this.href(env)));
    this.panelSlot = h('div');
    this.serviceHistory = new HistoryPanel(this.svc, { env: null });
    this.panelHost.append(this.panelSlot, this.serviceHistory.root);
    this.main.replaceChildren(
      h('div.service-layout', {},
        h('aside.sidebar', {},
          h('div.sidebar-head', {}, h('h2', {}, this.svc), this.liveBadge),
          this.mergeHost,
          this.treeHost, this.addHost,
          renderLookup(this.svc, (env) => this.navigate(this.href(env))),
          this.assocIndex.root),
        this.panelHost),
    );
    this.unsubscribe = subscribe(api.eventsUrl(this.svc), (e) => this.onEvent(e), (state) => {
      // Distinct words and colours: live; reconnecting (changes made
      // elsewhere meanwhile arrive once it is live again); disconnected
      // (nothing more arrives until the page is reloaded).
      const words = { live: '● live', reconnecting: '◌ reconnecting…', disconnected: '✕ disconnected: reload the page' };
      this.liveBadge.textContent = words[state];
      this.liveBadge.title = state === 'disconnected'
        ? 'The server ended the stream of changes: what is shown may be out of date'
        : 'Changes made elsewhere appear here without a reload';
      this.liveBadge.className = `live-badge is-${state}`;
    });
    if (!(await this.loadTree())) return;
    this.renderMerge();
    this.assocIndex.refresh();
    this.refreshClients();
    this.serviceHistory.refresh();
    await this.refreshPins();
    await this.select(this.env);
  }

  /** The service's merge mode, switchable; a switch rewrites every view. */
  renderMerge() {
    const mode = this.service ? this.service.merge : 'shallow';
    if (this.service && this.service.read_only) {
      this.mergeHost.replaceChildren(h('span.muted', { title: this.service.read_only }, `Merge: ${mode} · read-only`));
      return;
    }
    if (!may('admin', this.svc)) {
      this.mergeHost.replaceChildren(h('span.muted', {}, `Merge: ${mode}`));
      return;
    }
    const select = h('select', { id: 'merge-select', 'aria-label': 'Merge mode' },
      h('option', { value: 'shallow', selected: mode === 'shallow' }, 'shallow (original Jones)'),
      h('option', { value: 'deep', selected: mode === 'deep' }, 'deep'));
    select.addEventListener('change', async () => {
      const page = currentPage();
      const next = select.value;
      const explain = next === 'deep'
        ? 'Objects will be merged key by key: a child’s {"db": {"pool": 20}} keeps the db.host it inherits. Every view is rewritten at once.'
        : 'An object a child sets will replace the whole inherited object, as original Jones merges. Every view is rewritten at once; views may lose inherited keys.';
      const ok = await dialog(`Merge ${this.svc} ${next}?`, h('p', {}, explain), [
        { label: 'Cancel', value: false },
        { label: `Switch to ${next}`, kind: 'primary', value: true },
      ]);
      if (!ok) {
        select.value = mode;
        return;
      }
      try {
        const done = await api.setMerge(this.svc, next);
        notify(`${this.svc} merges ${next} now; ${done.views_written} views rewritten.`, 'info', page);
        this.service.merge = next;
        if (this.panel) await this.panel.refresh();
      } catch (e) {
        select.value = mode;
        showError(e, 'Cannot switch the merge mode', page);
      }
    });
    this.mergeHost.replaceChildren(h('label', { for: 'merge-select' }, 'Merge'), select);
  }

  unmount() {
    this.unsubscribe && this.unsubscribe();
    this.panel && this.panel.destroy();
  }

  async loadTree() {
    const page = currentPage();
    try {
      this.service = await api.service(this.svc);
      this.tree = this.service.envs;
      return true;
    } catch (e) {
      showError(e, `Cannot open service ${this.svc}`, page);
      this.main.replaceChildren(h('p.muted', {}, `The service ${this.svc} could not be loaded. `, h('a', { href: '#/' }, 'Back to the services')));
      return false;
    }
  }

  /**
   * Renders the tree. A live update calls this while the user may be
   * working in the sidebar, so the keyboard focus stays on the node that
   * had it, and the add-child form is never rebuilt (see `renderAddChild`).
   */
  renderTree(opts = {}) {
    const active = document.activeElement;
    const focusedEnv = this.treeHost.contains(active) && active.dataset ? active.dataset.env : undefined;
    const marks = new Map([...this.pins].map(([env, pin]) => [env, `pinned at #${pin.to}`]));
    this.treeHost.replaceChildren(renderTree(this.tree, this.env, marks, (env, o = {}) => {
      if (o.keepFocus !== undefined) {
        this.renderTree();
        focusNode(this.treeHost, o.keepFocus);
      } else if (env !== this.env) {
        this.navigate(this.href(env));
      }
    }));
    if (opts.focus) focusNode(this.treeHost, this.env);
    else if (focusedEnv !== undefined) focusNode(this.treeHost, focusedEnv);
    this.renderAddChild();
  }

  /**
   * The add-child form of the selected environment. It is built once and
   * then only updated: its label, the sibling names it checks against, and
   * the verdict on what is typed. What the user typed, the focus and the
   * selection stay as they are when the tree changes elsewhere.
   */
  renderAddChild() {
    if (!this.addChild) this.addChild = this.buildAddChild();
    const { input, label } = this.addChild;
    if (this.addChild.env !== this.env) {
      // Another environment was selected: a name typed for the old one is
      // not carried over.
      this.addChild.env = this.env;
      input.value = '';
    }
    label.textContent = `Add a child of ${this.env === '' ? 'root' : this.env}`;
    // Nothing is offered for an environment that does not exist, nor
    // below one that cannot be changed.
    const readOnly = (this.service && this.service.read_only)
      || (this.panel && this.panel.env === this.env && this.panel.data && this.panel.data.read_only);
    this.addHost.hidden = !findNode(this.tree, this.env) || !!readOnly || !may('admin', this.svc);
    this.addChild.check();
  }

  buildAddChild() {
    const input = h('input', { id: 'child-name', type: 'text', placeholder: 'child name', autocomplete: 'off', spellcheck: false });
    const problem = h('p.field-problem', { id: 'child-problem', 'aria-live': 'polite' });
    const add = h('button.secondary', { type: 'submit', disabled: true }, 'Add');
    const label = h('label', { for: 'child-name' });
    const check = () => {
      const name = input.value;
      const node = findNode(this.tree, this.env);
      const siblings = new Set((node ? node.children : []).map((c) => c.name || c.env.split('/').pop()));
      const parentLabel = this.env === '' ? 'root' : this.env;
      const why = name ? segmentProblem(name) || (siblings.has(name) ? `${parentLabel} already has a child named “${name}”.` : null) : null;
      if (problem.textContent !== (why || '')) problem.textContent = why || '';
      add.disabled = !name || !!why;
    };
    input.addEventListener('input', check);
    this.addHost.replaceChildren(
      h('form.add-child', {
        onsubmit: async (e) => {
          e.preventDefault();
          const child = this.env ? `${this.env}/${input.value}` : input.value;
          const page = currentPage();
          try {
            await api.createEnv(this.svc, child, {});
            input.value = '';
            await this.loadTree();
            this.navigate(this.href(child));
            notify(`Created ${child}.`);
          } catch (err) {
            showError(err, `Cannot create ${child}`, page);
          }
        },
      },
      label,
      h('div.inline', {}, input, add)),
      problem,
    );
    return { input, label, check, env: this.env };
  }

  /** Shows environment `env`, asking first when an unsaved edit would be lost. */
  async select(env) {
    if (this.panel && this.panel.env !== env && this.panel.editor && this.panel.isDirty()) {
      if (!window.confirm(`Leave ${this.panel.env || 'root'}? Its unsaved edit will be lost.`)) {
        history.replaceState(null, '', this.href(this.panel.env));
        return;
      }
    }
    this.env = env;
    this.renderTree();
    this.panel && this.panel.destroy();
    this.panel = new EnvPanel(this.svc, env, {
      allEnvs: () => allEnvs(this.tree),
      serviceReadOnly: !!(this.service && this.service.read_only),
      clients: () => this.clients,
      pin: () => this.pins.get(env) || null,
      onPinsChanged: () => this.refreshPins(),
      merge: () => (this.service ? this.service.merge : 'shallow'),
      onNavigate: (target) => this.navigate(this.href(target)),
      onTreeChanged: async (target) => {
        await this.loadTree();
        this.navigate(this.href(target));
      },
    });
    this.panelSlot.replaceChildren(await this.panel.load());
    this.renderAddChild();
  }

  /**
   * Batches bursts of events (one write touches many views) into one
   * refresh. A registry report goes straight to the rollout card and
   * refreshes nothing else.
   */
  onEvent(event) {
    if (event.type === 'clients') {
      this.onClients(event.report);
      return;
    }
    if (event.type === 'resync') this.refreshClients();
    this.pendingEvents = this.pendingEvents || [];
    this.pendingEvents.push(event);
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.applyEvents(), 120);
  }

  onClients(report) {
    this.clientsSeen += 1;
    this.clients = report;
    this.panel && this.panel.onClients(report);
  }

  /** Reads the registry's report (opening the service, after a resync). */
  async refreshClients() {
    const seen = this.clientsSeen;
    let report;
    try {
      report = await api.clients(this.svc);
    } catch (e) {
      if (this.clientsSeen === seen && this.panel) this.panel.onClientsFailed(e);
      return;
    }
    if (this.clientsSeen !== seen) return;
    this.clients = report;
    this.panel && this.panel.onClients(report);
  }

  /** Reads the pins again: the tree's badges and the panel's pin card follow. */
  async refreshPins() {
    const seq = (this.pinsSeq = (this.pinsSeq || 0) + 1);
    let pins;
    try {
      pins = await loadPins(this.svc);
    } catch {
      // An older server without pins, or a passing failure: the next event reads them again.
      return;
    }
    if (seq !== this.pinsSeq) return;
    this.pins = pins;
    if (this.tree) this.renderTree();
    if (this.panel && this.panel.data && this.panel.pinHost) this.panel.renderPin();
  }

  async applyEvents() {
    const page = currentPage();
    const events = this.pendingEvents || [];
    this.pendingEvents = [];
    // Every change is in the history; a pin change rewrites the service znode and views.
    this.serviceHistory.refresh();
    await this.refreshPins();
    const resync = events.some((e) => e.type === 'resync');
    const treeChanged = resync || events.some((e) => e.kind === 'conf' || e.kind === 'service');
    if (treeChanged) {
      try {
        this.tree = await api.tree(this.svc);
      } catch (e) {
        showError(e, 'Cannot refresh the tree', page);
        return;
      }
      if (!findNode(this.tree, this.env)) {
        const gone = this.env || 'root';
        this.navigate(this.href(''));
        notify(`${gone} was deleted elsewhere.`, 'error');
        return;
      }
      this.renderTree();
    }
    if (resync || events.some((e) => e.kind === 'nodemap')) this.assocIndex.refresh();
    const touchesPanel = resync || events.some((e) => e.kind === 'nodemap' || e.env === this.env || (e.kind === 'view' && e.env !== undefined));
    if (this.panel && this.panel.data && touchesPanel) await this.panel.onRemoteChange();
  }
}
