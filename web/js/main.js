// The page's entry point: the active model in the header, and a small hash router over the
// three views (#/ datasets, #/d/{id} one dataset, #/d/{id}/i/{image} the editor).
import { api } from './api.js';
import { guardPageDrops } from './files.js';
import { el, clear, notify } from './ui.js';
import { renderDatasets } from './datasets.js';
import { renderDataset } from './dataset.js';
import { renderEditor } from './editor.js';

const main = document.getElementById('main');
const crumbs = document.getElementById('crumbs');
let cleanup = null;

function setCrumbs(parts) {
  clear(crumbs);
  parts.forEach((part, i) => {
    if (i > 0) crumbs.append(el('span.crumb-sep', { 'aria-hidden': 'true' }, '›'));
    crumbs.append(part.href
      ? el('a.crumb', { href: part.href }, part.label)
      : el('span.crumb.current', { 'aria-current': 'page' }, part.label));
  });
}

function route() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const hash = location.hash.replace(/^#/, '') || '/';
  const parts = hash.split('/').filter(Boolean).map(decodeURIComponent);
  const context = { main: clear(main), setCrumbs };
  try {
    if (parts.length === 0) {
      cleanup = renderDatasets(context);
    } else if (parts[0] === 'd' && parts.length === 2) {
      cleanup = renderDataset(context, parts[1]);
    } else if (parts[0] === 'd' && parts.length === 4 && parts[2] === 'i') {
      cleanup = renderEditor(context, parts[1], parts[3]);
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
    box.append(el('span.model-name.model-missing', {}, `No model: ${error.message}`));
    notify(error);
  }
}

window.addEventListener('unhandledrejection', (e) => notify(e.reason instanceof Error ? e.reason : String(e.reason)));
window.addEventListener('error', (e) => {
  if (e.error) notify(e.error);
});
window.addEventListener('hashchange', route);
guardPageDrops();
showModel();
route();
