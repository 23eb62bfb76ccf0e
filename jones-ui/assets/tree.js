// The environment tree: expand, collapse, select, keyboard navigation.

import { h } from './dom.js';

const expanded = new Set(['']);

/** Every env path in `node`'s subtree, itself included. */
export function allEnvs(node) {
  return [node.env, ...(node.children || []).flatMap(allEnvs)];
}

/** The node of `env` in the tree, or null. */
export function findNode(node, env) {
  if (node.env === env) return node;
  for (const child of node.children || []) {
    const found = findNode(child, env);
    if (found) return found;
  }
  return null;
}

/**
 * Renders the tree with `selected` highlighted; `marks` maps an env to a
 * badge's words (`pinned at #12`); `onSelect(env)` on activation.
 */
export function renderTree(root, selected, marks, onSelect) {
  // Keep the path to the selection open.
  const parts = selected ? selected.split('/') : [];
  for (let i = 1; i <= parts.length; i++) expanded.add(parts.slice(0, i - 1).join('/'));

  const list = h('ul.tree', { role: 'tree', 'aria-label': 'Environments' }, renderNode(root, selected, marks, onSelect));
  list.addEventListener('keydown', (e) => moveFocus(e, list));
  return list;
}

function renderNode(node, selected, marks, onSelect) {
  const children = node.children || [];
  const isOpen = expanded.has(node.env);
  const label = node.env === '' ? 'root' : node.name || node.env.split('/').pop();
  const toggle = children.length
    ? h('button.toggle', {
        type: 'button',
        tabIndex: -1,
        'aria-label': `${isOpen ? 'Collapse' : 'Expand'} ${label}`,
        onclick: () => {
          isOpen ? expanded.delete(node.env) : expanded.add(node.env);
          onSelect(selected, { keepFocus: node.env });
        },
      }, isOpen ? '▾' : '▸')
    : h('span.toggle-space', {}, '');
  const button = h(
    'button.node',
    {
      type: 'button',
      dataset: { env: node.env },
      'aria-current': node.env === selected ? 'true' : undefined,
      onclick: () => onSelect(node.env),
    },
    h('span.node-label', {}, label,
      marks.has(node.env) ? h('span.node-badge', { title: marks.get(node.env), 'aria-label': marks.get(node.env), dataset: { mark: marks.get(node.env) } }, 'pinned') : null),
    children.length ? h('span.count', {}, String(children.length)) : null,
  );
  return h(
    'li',
    { role: 'treeitem', 'aria-expanded': children.length ? String(isOpen) : undefined, 'aria-selected': String(node.env === selected) },
    h('div.node-row', {}, toggle, button),
    children.length && isOpen ? h('ul', { role: 'group' }, children.map((c) => renderNode(c, selected, marks, onSelect))) : null,
  );
}

/** Arrow keys move between visible nodes; left/right collapse and expand. */
function moveFocus(e, list) {
  const nodes = [...list.querySelectorAll('button.node')];
  const index = nodes.indexOf(document.activeElement);
  if (index < 0) return;
  const current = nodes[index];
  const row = current.parentElement;
  const toggle = row.querySelector('button.toggle');
  if (e.key === 'ArrowDown' && index + 1 < nodes.length) nodes[index + 1].focus();
  else if (e.key === 'ArrowUp' && index > 0) nodes[index - 1].focus();
  else if (e.key === 'ArrowRight' && toggle && !expanded.has(current.dataset.env)) toggle.click();
  else if (e.key === 'ArrowLeft' && toggle && expanded.has(current.dataset.env)) toggle.click();
  else return;
  e.preventDefault();
}

/** Focuses the node of `env` after a re-render. */
export function focusNode(container, env) {
  const button = [...container.querySelectorAll('button.node')].find((b) => b.dataset.env === env);
  button && button.focus();
}
