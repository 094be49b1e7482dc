// Small DOM helpers shared by the views: element creation, notices, the confirm dialog and
// saving a file.

// el('button.btn#save', {onclick, type: 'button'}, 'Save') — tag with optional .classes and
// #id; attributes (on* become listeners, `dataset` an object); children are nodes or text.
export function el(spec, attrs = {}, ...children) {
  const match = /^([a-z0-9]+)((?:[.#][\w-]+)*)$/i.exec(spec);
  if (!match) throw new Error(`bad element spec ${spec}`);
  const node = document.createElement(match[1]);
  for (const part of match[2].match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') node.classList.add(part.slice(1));
    else node.id = part.slice(1);
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (key === 'text') {
      node.textContent = value;
    } else if (value === true) {
      node.setAttribute(key, '');
    } else {
      node.setAttribute(key, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

// A dismissible message at the top of the page. kind: 'error' | 'info'.
export function notify(message, kind = 'error') {
  const area = document.getElementById('notices');
  const text = message instanceof Error ? message.message : String(message);
  // The same message twice in a row is shown once, with a counter.
  const last = area.lastElementChild;
  if (last && last.dataset.text === text) {
    const count = Number(last.dataset.count || 1) + 1;
    last.dataset.count = String(count);
    last.querySelector('.notice-count').textContent = ` (×${count})`;
    return;
  }
  const close = el('button.notice-close', { type: 'button', 'aria-label': 'Dismiss this message' }, '×');
  const notice = el(`div.notice.notice-${kind}`, { dataset: { text } },
    el('span.notice-text', {}, kind === 'error' ? 'Error: ' : '', text),
    el('span.notice-count'), close);
  close.addEventListener('click', () => notice.remove());
  area.append(notice);
  while (area.children.length > 5) area.firstElementChild.remove();
}

export function clearNotices() {
  clear(document.getElementById('notices'));
}

// Resolves true when the person confirms. Uses the page's <dialog>.
export function confirmAction(text, okLabel = 'Delete') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

// Saves a Blob under a file name through a temporary link.
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
