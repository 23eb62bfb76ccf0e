// The list of services: open, create, delete (with a typed confirmation).

import { api } from './api.js';
import { confirmTyped, h, notify, showError } from './dom.js';
import { confirmationForm, serviceProblem, visibleName } from './names.js';
import { may } from './signin.js';

export async function renderServices(main, navigate) {
  main.replaceChildren(h('p.muted', {}, 'Loading services…'));
  let services;
  try {
    services = await api.services();
  } catch (e) {
    showError(e, 'Cannot list services');
    main.replaceChildren(h('p.muted', {}, 'The services could not be loaded.'));
    return;
  }
  const name = h('input', { id: 'new-service', type: 'text', placeholder: 'new-service-name', autocomplete: 'off', spellcheck: false });
  const problem = h('p.field-problem', { id: 'new-service-problem', 'aria-live': 'polite' });
  const create = h('button.primary', { type: 'submit', disabled: true }, 'Create service');
  const merge = h('select', { id: 'new-service-merge', 'aria-label': 'Merge mode' },
    h('option', { value: 'shallow' }, 'shallow merge (original Jones)'),
    h('option', { value: 'deep' }, 'deep merge'));
  name.addEventListener('input', () => {
    const why = name.value ? serviceProblem(name.value) : null;
    problem.textContent = why || '';
    create.disabled = !name.value || !!why;
  });
  const form = h(
    'form.inline-form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          await api.createService(name.value, merge.value);
          navigate(`#/services/${encodeURIComponent(name.value)}`);
          notify(`Created service ${name.value} (${merge.value} merge).`);
        } catch (err) {
          showError(err, `Cannot create ${name.value}`);
        }
      },
    },
    h('label', { for: 'new-service' }, 'New service'),
    name,
    merge,
    create,
  );

  const rows = services.map((svc) =>
    h(
      'li.service-row',
      {},
      // A name from before the rules is shown quoted, its spaces marked.
      serviceProblem(svc)
        ? h('span', {}, h('a.legacy-name', { href: `#/services/${encodeURIComponent(svc)}` }, visibleName(svc)),
            h('span.badge', { title: 'Its name predates the name rules: it can be read and deleted, not changed' }, 'old name · read-only'))
        : h('a', { href: `#/services/${encodeURIComponent(svc)}` }, svc),
      may('admin', svc) && h(
        'button.danger.small',
        {
          type: 'button',
          'aria-label': `Delete service ${svc}`,
          onclick: async () => {
            let reach;
            try {
              reach = await api.previewDelete(svc, '');
            } catch (err) {
              showError(err, `Cannot delete ${svc}`);
              return;
            }
            const count = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;
            const legacy = serviceProblem(svc) !== null;
            const shown = legacy ? visibleName(svc) : svc;
            const typed = confirmationForm(svc);
            const ok = await confirmTyped(
              `Delete service ${shown}?`,
              `This removes its ${count(reach.envs.length, 'environment')} and ${count(reach.associations.length, 'association')}, with every view. Apps reading it keep their last config but get no more updates.`
                + (typed !== svc ? ` Its name holds characters that cannot be seen (${shown}): type what is shown below.` : ''),
              typed,
              'Delete service',
            );
            if (!ok) return;
            try {
              await api.deleteService(svc);
              notify(`Deleted service ${shown}.`);
              renderServices(main, navigate);
            } catch (err) {
              showError(err, `Cannot delete ${svc}`);
            }
          },
        },
        'Delete',
      ),
    ),
  );
  main.replaceChildren(
    h('section.card.services', {}, h('h1', {}, 'Services'),
      rows.length ? h('ul.service-list', {}, rows) : h('p.muted', {}, may('admin') ? 'No services yet. Create the first one below.' : 'No services you may view.'),
      may('admin') && form, may('admin') && problem),
  );
  if (!rows.length && may('admin')) name.focus();
}
