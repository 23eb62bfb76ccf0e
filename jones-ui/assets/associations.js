// Every association of a service in one list, with a search: which
// environment each host reads, across the whole tree. Kept live by the
// service page, which refreshes it when the nodemap changes; the search
// field is built once, so what is typed survives refreshes.

import { api } from './api.js';
import { currentPage, h, replaceKeepingFocus, showError } from './dom.js';

const envLabel = (env) => (env === '' ? 'root' : env);

export class AssociationIndex {
  constructor(svc, onOpen) {
    this.svc = svc;
    this.onOpen = onOpen;
    this.all = [];
    this.search = h('input', { id: 'assoc-search', type: 'search', placeholder: 'search hosts or environments', autocomplete: 'off', spellcheck: false, 'aria-label': 'Search associations' });
    this.search.addEventListener('input', () => this.render());
    this.list = h('div', { id: 'assoc-index' });
    this.count = h('span.muted');
    this.root = h('section.all-associations', { 'aria-label': 'All associations' },
      h('h3', {}, 'All associations ', this.count), this.search, this.list);
  }

  async refresh() {
    const page = currentPage();
    try {
      const data = await api.associations(this.svc);
      this.all = Array.isArray(data) ? data : data.associations || [];
    } catch (e) {
      showError(e, 'Cannot list the associations', page);
      return;
    }
    this.render();
  }

  render() {
    const q = this.search.value.trim().toLowerCase();
    const shown = this.all.filter((a) => !q || a.name.toLowerCase().includes(q) || envLabel(a.env ?? '').toLowerCase().includes(q));
    this.count.textContent = `(${this.all.length})`;
    replaceKeepingFocus(this.list,
      shown.length
        ? h('ul', {}, shown.map((a) => h('li', { dataset: { name: a.name } },
            h('code', {}, a.name),
            a.env === null || a.env === undefined
              ? h('span.field-problem', {}, 'not a view of this service')
              : h('a', { href: '#', dataset: { focus: `open:${a.name}` }, onclick: (e) => { e.preventDefault(); this.onOpen(a.env); } }, envLabel(a.env)))))
        : h('p.muted', {}, this.all.length ? 'No association matches.' : 'No associations yet: hosts read the root view.'));
  }
}
