// Who is signed in: the session the server keeps in an HttpOnly cookie
// (the editor never sees the token again after signing in), the sign-in
// form a server with an admin token asks for, "signed in as …" with
// sign-out in the top bar, and `may(role, svc)`, which the pages ask
// before they offer a control the role may not use.

import { api } from './api.js';
import { h } from './dom.js';

const RANK = { viewer: 1, editor: 2, admin: 3 };

/** The server's answer to GET /api/v1/session. */
let session = { account: null, grants: [], open: true, anonymous_read: false };

/** Whether the caller holds at least `role` on `svc` (`null`: on every service). */
export function may(role, svc = null) {
  if (session.open) return true;
  const held = session.grants
    .filter((g) => g.service === null || (svc !== null && g.service === svc))
    .map((g) => RANK[g.role] || 0);
  return Math.max(0, ...held) >= RANK[role];
}

/** `editor on checkout, viewer on every service`. */
function rolesText(grants) {
  return grants.map((g) => `${g.role} on ${g.service === null ? 'every service' : g.service}`).join(', ');
}

/** Whether the server lets this visitor read without signing in. */
function mayRead() {
  return session.open || session.account !== null || session.anonymous_read;
}

/**
 * Loads the session and shows it in the top bar. `show` renders the
 * current page again (after signing in or out); it runs now unless the
 * server wants a sign-in first. A 401 from any call later brings the form.
 */
export async function startSession(main, show) {
  const signIn = () => renderSignIn(main, show);
  window.addEventListener('jones:unauthorized', signIn);
  try {
    session = await api.session();
  } catch {
    // An older server without sessions: everything is offered, the
    // server still refuses what it must.
  }
  renderBar(main, show);
  if (mayRead()) show();
  else signIn();
}

function renderBar(main, show) {
  const bar = document.getElementById('session');
  if (!bar) return;
  if (session.open) {
    bar.replaceChildren(h('span.session-who', { title: 'This server has no admin token: every local user may change everything' }, 'open server'));
    return;
  }
  if (session.account === null) {
    bar.replaceChildren(h('button.secondary.small', { id: 'signin-open', type: 'button', onclick: () => renderSignIn(main, show) }, 'Sign in'));
    return;
  }
  bar.replaceChildren(
    h('span.session-who', { id: 'session-who', title: rolesText(session.grants) },
      `Signed in as ${session.account} (${rolesText(session.grants)})`),
    h('button.secondary.small', {
      id: 'signout',
      type: 'button',
      onclick: async () => {
        try {
          session = await api.signOut();
        } catch {
          session = { account: null, grants: [], open: false, anonymous_read: false };
        }
        renderBar(main, show);
        if (mayRead()) show();
        else renderSignIn(main, show);
      },
    }, 'Sign out'));
}

function renderSignIn(main, show) {
  if (document.getElementById('signin')) return;
  const token = h('input', { id: 'signin-token', type: 'password', autocomplete: 'current-password', spellcheck: false, placeholder: 'jones_…' });
  const problem = h('p.field-problem', { id: 'signin-problem', 'aria-live': 'polite' });
  const form = h('form.signin', {
    id: 'signin',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        session = await api.signIn(token.value.trim());
      } catch (err) {
        problem.textContent = err.message;
        return;
      }
      renderBar(main, show);
      show();
    },
  },
  h('h1', {}, 'Sign in'),
  h('p', {}, 'This server needs a token: an account’s (from ', h('code', {}, 'jones account add'), ') or the admin token. It is kept in a cookie scripts cannot read.'),
  h('label', { for: 'signin-token' }, 'Token'),
  token,
  h('div.actions', {}, h('button.primary', { type: 'submit' }, 'Sign in')),
  problem);
  main.replaceChildren(form);
  token.focus();
}
