// Look up a host: the environment an association maps to and the config it reads.

import { api } from './api.js';
import { currentPage, h, showError } from './dom.js';
import { associationProblem } from './names.js';

export function renderLookup(svc, onOpenEnv) {
  const input = h('input', { id: 'lookup-name', type: 'text', placeholder: 'web-01.example.com', autocomplete: 'off', spellcheck: false });
  const result = h('div.lookup-result', { id: 'lookup-result', 'aria-live': 'polite' });
  const form = h(
    'form.lookup',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        const name = input.value.trim();
        const why = associationProblem(name);
        if (why) {
          result.replaceChildren(h('p.field-problem', {}, why));
          return;
        }
        const page = currentPage();
        try {
          const data = await api.resolve(svc, name);
          const env = data.env ?? '';
          const associated = data.associated ?? data.env !== undefined;
          result.replaceChildren(
            h('p', {}, h('strong', {}, name), ' reads ',
              h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); onOpenEnv(env); } }, env === '' ? 'root' : env),
              associated === false || (data.associated === undefined && env === '') ? h('span.muted', {}, ' (no association: the root view)') : null),
            h('pre.json', {}, JSON.stringify(data.config ?? data.view ?? data, null, 2)),
          );
        } catch (err) {
          result.replaceChildren();
          showError(err, `Cannot look up ${name}`, page);
        }
      },
    },
    h('label', { for: 'lookup-name' }, 'Look up a host'),
    h('div.inline', {}, input, h('button.secondary', { type: 'submit' }, 'Look up')),
  );
  return h('section.sidebar-box', {}, form, result);
}
