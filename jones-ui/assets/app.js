// The Jones web editor: routes #/ (services) and #/services/{svc}/{env…}.

import { renderServices } from './services.js';
import { ServicePage } from './service.js';
import { dropMessagesOfOtherPages, h } from './dom.js';
import { startSession } from './signin.js';

const main = document.getElementById('main');
const crumbs = document.getElementById('crumbs');
let page = null;

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function parse(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'services' && parts[1] !== undefined) return { svc: parts[1], env: parts.slice(2).join('/') };
  return null;
}

async function route() {
  dropMessagesOfOtherPages(location.hash);
  const target = parse(location.hash);
  if (target && page && page.svc === target.svc) {
    await page.select(target.env);
    renderCrumbs(target);
    return;
  }
  page && page.unmount();
  page = null;
  renderCrumbs(target);
  if (!target) {
    document.title = 'Jones';
    await renderServices(main, navigate);
    return;
  }
  document.title = `${target.svc} · Jones`;
  page = new ServicePage(main, target.svc, target.env, navigate);
  await page.mount();
}

function renderCrumbs(target) {
  const parts = [h('a', { href: '#/' }, 'Services')];
  if (target) parts.push(h('span', {}, ' / ', h('a', { href: `#/services/${encodeURIComponent(target.svc)}` }, target.svc)));
  if (target && target.env) parts.push(h('span', {}, ' / ', target.env));
  crumbs.replaceChildren(...parts);
}

/** Renders the current location afresh (after signing in or out). */
function reload() {
  page && page.unmount();
  page = null;
  route();
}

window.addEventListener('hashchange', route);
window.addEventListener('beforeunload', (e) => {
  if (page && page.panel && page.panel.editor && page.panel.isDirty()) e.preventDefault();
});
startSession(main, reload);
