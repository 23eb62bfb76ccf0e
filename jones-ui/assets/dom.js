// Small DOM helpers: element building, messages, and modal dialogs.

/** Creates an element: h('button.primary', {onclick}, 'Save'). */
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(' ');
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key in el && key !== 'list' && key !== 'form') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * Replaces the children of `host`, keeping the keyboard focus: if an
 * element inside `host` had it, the new element with the same `id` or
 * `data-focus` key gets it back. For parts that live updates re-render.
 */
export function replaceKeepingFocus(host, ...children) {
  const active = document.activeElement;
  const key = host.contains(active) ? active.id || active.dataset.focus : null;
  host.replaceChildren(...children);
  if (!key) return;
  const again = [...host.querySelectorAll('[id], [data-focus]')].find((el) => el.id === key || el.dataset.focus === key);
  again && again.focus();
}

/**
 * Shows `message` in the page's message area. A message belongs to the
 * page it was raised on (see `pageOf`): leaving that page removes it, and
 * a message of a page the user already left (an answer that arrived late)
 * is not shown at all. `page` defaults to the current one; work that
 * awaits something passes the page it started on. Errors stay until
 * dismissed or left; others go after a few seconds.
 */
export function notify(message, kind = 'info', page = currentPage()) {
  if (page !== currentPage()) return null;
  const area = document.getElementById('messages');
  const close = h('button.link', { type: 'button', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×');
  const item = h(`div.message.${kind}`, { role: kind === 'error' ? 'alert' : 'status', dataset: { page } }, h('span', {}, message), close);
  area.append(item);
  if (kind !== 'error') setTimeout(() => item.remove(), 4000);
  return item;
}

/**
 * The page a location belongs to: the service list (''), or one
 * environment of one service (`services/{svc}/{env}`, env '' for root).
 */
export function pageOf(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return parts[0] === 'services' && parts[1] !== undefined ? pageKey(parts[1], parts.slice(2).join('/')) : '';
}

/** The page of environment `env` of service `svc`. */
export function pageKey(svc, env) {
  return `services/${svc}/${env}`;
}

/** The page the user is on now. */
export function currentPage() {
  return pageOf(location.hash);
}

/** Removes the messages raised on other pages than `hash`'s. */
export function dropMessagesOfOtherPages(hash) {
  const page = pageOf(hash);
  for (const item of document.querySelectorAll('#messages .message')) {
    if (item.dataset.page !== page) item.remove();
  }
}

/** Reports an error in words, on `page` (see `notify`). */
export function showError(error, what, page = currentPage()) {
  const text = error && error.message ? error.message : String(error);
  return notify(what ? `${what}: ${text}` : text, 'error', page);
}

/**
 * A modal dialog. `body` is a node; `actions` are [{label, kind, value,
 * disabled}]. Resolves with the chosen action's value, or null on Escape.
 */
export function dialog(title, body, actions) {
  return new Promise((resolve) => {
    const buttons = actions.map((a) =>
      h(`button.${a.kind || 'secondary'}`, { type: 'button', disabled: a.disabled, onclick: () => done(a.value) }, a.label),
    );
    const el = h(
      'dialog.modal',
      { 'aria-label': title },
      h('h2', {}, title),
      h('div.modal-body', {}, body),
      h('div.modal-actions', {}, buttons),
    );
    function done(value) {
      el.close();
      el.remove();
      resolve(value);
    }
    el.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(null);
    });
    el.buttons = buttons;
    document.body.append(el);
    el.showModal();
    const first = el.querySelector('input, textarea') || buttons[buttons.length - 1];
    first && first.focus();
  });
}

/** Asks the user to type `expected` before a destructive action. */
export async function confirmTyped(title, explanation, expected, actionLabel) {
  const input = h('input', { type: 'text', autocomplete: 'off', spellcheck: false, 'aria-label': `Type ${expected} to confirm` });
  const body = h('div', {}, h('p', {}, explanation), h('label', {}, 'Type ', h('code', {}, expected), ' to confirm:', input));
  const pending = dialog(title, body, [
    { label: 'Cancel', value: false },
    { label: actionLabel, kind: 'danger', value: true, disabled: true },
  ]);
  const confirmButton = input.closest('dialog').buttons[1];
  input.addEventListener('input', () => (confirmButton.disabled = input.value !== expected));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && input.value === expected) confirmButton.click();
  });
  return (await pending) === true;
}

/** A JSON value as short readable text. */
export function preview(value) {
  const text = JSON.stringify(value);
  return text.length > 120 ? text.slice(0, 117) + '…' : text;
}
