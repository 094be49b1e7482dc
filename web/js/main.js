// The page's entry point: who is logged in (else the login screen), the default model (and
// how many more the server runs) in the header, and a small hash router over the views (#/ datasets, #/d/{id} one dataset,
// #/d/{id}/i/{image} the editor, #/admin accounts, #/tokens the caller's own tokens).
import { hideAccount, showAccount } from './account.js';
import { api, onUnauthenticated } from './api.js';
import { renderAdmin } from './admin.js';
import { guardPageDrops } from './files.js';
import { LINK_FAILED_TEXT, renderLogin } from './login.js';
import { forgetModels, loadModels } from './models.js';
import { applyMe, forget, reloadMe } from './session.js';
import { renderMyTokens } from './tokens.js';
import { el, clear, clearNotices, notify } from './ui.js';
import { renderDatasets } from './datasets.js';
import { renderDataset } from './dataset.js';
import { renderEditor } from './editor.js';

const main = document.getElementById('main');
const crumbs = document.getElementById('crumbs');
let cleanup = null;
let loggedIn = false;

function setCrumbs(parts) {
  clear(crumbs);
  parts.forEach((part, i) => {
    if (i > 0) crumbs.append(el('span.crumb-sep', { 'aria-hidden': 'true' }, '›'));
    crumbs.append(part.href
      ? el('a.crumb', { href: part.href }, part.label)
      : el('span.crumb.current', { 'aria-current': 'page' }, part.label));
  });
}

function stopView() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
}

function route() {
  stopView();
  if (!loggedIn) return;
  // A view's own state may follow a `?` (the dataset grid's filter and position).
  const hash = location.hash.replace(/^#/, '').split('?')[0] || '/';
  const parts = hash.split('/').filter(Boolean).map(decodeURIComponent);
  const context = { main: clear(main), setCrumbs };
  try {
    if (parts.length === 0) {
      cleanup = renderDatasets(context);
    } else if (parts[0] === 'd' && parts.length === 2) {
      cleanup = renderDataset(context, parts[1]);
    } else if (parts[0] === 'd' && parts.length === 4 && parts[2] === 'i') {
      cleanup = renderEditor(context, parts[1], parts[3]);
    } else if (parts[0] === 'admin' && parts.length === 1) {
      cleanup = renderAdmin({ ...context, onAccountsChanged: refreshAccount });
    } else if (parts[0] === 'tokens' && parts.length === 1) {
      cleanup = renderMyTokens(context);
    } else {
      setCrumbs([{ label: 'Datasets', href: '#/' }, { label: 'Not found' }]);
      main.append(el('section.panel', {}, el('h1', {}, 'Nothing here'),
        el('p', {}, 'This address is not a page of samcache. '), el('a', { href: '#/' }, 'Back to the datasets')));
    }
  } catch (error) {
    notify(error);
  }
}

async function showModel() {
  const box = document.getElementById('model');
  clear(box);
  try {
    const model = await api('GET', '/api/sam/model');
    box.append(el('span.model-label', {}, 'Model'),
      el('span.model-name#model-name', { title: `${model.name}\nid ${model.id}\n${model.source || ''}` }, model.name));
    if (model.demo) {
      box.append(el('span.badge.badge-demo#model-demo', {
        title: 'A small built-in model that segments simple scenes by colour and texture; start the server with --model DIR for a real SAM export',
      }, 'demo model — not SAM'));
    }
  } catch (error) {
    if (error.status === 401) return;  // the login screen is showing
    box.append(el('span.model-name.model-missing', {}, `No model: ${error.message}`));
    notify(error);
    return;
  }
  showOtherModels(box);
}

// With several models, the header's model is the default one; the others are counted, and
// a dataset's picker chooses among them.
async function showOtherModels(box) {
  let list;
  try {
    list = await loadModels();
  } catch {
    return;  // the views that need the list say why it failed
  }
  if (list.models.length < 2 || !loggedIn || box.querySelector('#model-count')) return;
  const label = box.querySelector('.model-label');
  if (label) label.textContent = 'Default model';
  box.append(el('span.badge.model-count#model-count', { title: list.models.map((m) => m.name).join('\n') },
    `+${list.models.length - 1} more`));
}

// Reads /me again and redraws the header (projects added, memberships changed).
async function refreshAccount() {
  try {
    await reloadMe();
    showAccount({ onProjectChange, onLogout: logout });
  } catch (error) {
    if (error.status === 401) showLogin();
    else notify(error);
  }
}

function onProjectChange() {
  if (location.hash === '' || location.hash === '#/' || location.hash === '#') route();
  else location.hash = '#/';
}

async function logout() {
  try {
    await api('POST', '/api/sam/logout');
  } catch (error) {
    if (error.status !== 401) notify(error);
  }
  showLogin();
}

// The login screen, in place of whatever the page showed (a 401 from any call lands here).
function showLogin(linkFailed = false) {
  stopView();
  loggedIn = false;
  forget();
  forgetModels();
  hideAccount();
  clearNotices();
  clear(document.getElementById('model'));
  setCrumbs([{ label: 'Log in' }]);
  document.title = 'samcache — log in';
  renderLogin(clear(main), { linkFailed, onLoggedIn: enter });
}

// Shows the page for the person /me describes.
function enter(me) {
  applyMe(me);
  loggedIn = true;
  clearNotices();
  showAccount({ onProjectChange, onLogout: logout });
  showModel();
  route();
}

// `?login=failed` is the server's answer to a used or expired login link; read once, then
// dropped from the address so a reload does not repeat it.
function takeLinkFailure() {
  const params = new URLSearchParams(location.search);
  if (params.get('login') !== 'failed') return false;
  history.replaceState(null, '', `${location.pathname}${location.hash}`);
  return true;
}

async function start() {
  const linkFailed = takeLinkFailure();
  let me;
  try {
    me = await api('GET', '/api/sam/me');
  } catch (error) {
    if (error.status === 401) return showLogin(linkFailed);
    notify(error);
    return undefined;
  }
  enter(me);
  if (linkFailed) notify(`${LINK_FAILED_TEXT}; you are still logged in as ${me.user ? me.user.name : 'before'}.`, 'info');
  return undefined;
}

onUnauthenticated(() => {
  if (loggedIn) showLogin();
});
window.addEventListener('unhandledrejection', (e) => notify(e.reason instanceof Error ? e.reason : String(e.reason)));
window.addEventListener('error', (e) => {
  if (e.error) notify(e.error);
});
window.addEventListener('hashchange', route);
guardPageDrops();
start();
