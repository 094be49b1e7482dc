// API tokens: create one (its secret is shown once, with a copy button), list them with their
// last use, revoke. The admin page lists everyone's and may create them for any user; anyone
// else sees the "My tokens" view of their own.
import { api } from './api.js';
import { formatDate } from './format.js';
import { session } from './session.js';
import { el, clear, confirmAction, notify } from './ui.js';

const when = (iso, otherwise) => (iso ? formatDate(iso) : otherwise);

// The secret of a token just created, with a copy button. Shown until dismissed or the view
// changes: the server never shows it again.
function secretBox(answer) {
  const input = el('input.input.secret-value#token-secret', { type: 'text', readonly: true, value: answer.secret,
    'aria-label': `Secret of the token ${answer.token.name}`, spellcheck: 'false' });
  const copy = el('button.btn.btn-primary#copy-secret', { type: 'button' }, 'Copy');
  const copied = el('span.muted#copy-state', { role: 'status' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(answer.secret);
      copied.textContent = 'Copied.';
    } catch {
      // No clipboard permission: select it for Ctrl+C.
      input.select();
      copied.textContent = 'Selected: press Ctrl+C to copy.';
    }
  });
  const hide = el('button.btn.btn-quiet', { type: 'button' }, 'Done');
  const box = el('div.callout.callout-success.secret-box#new-token', { role: 'status' },
    el('p', {}, `The token “${answer.token.name}” was created. Copy its secret now: it is not shown again.`),
    el('div.secret-row', {}, input, copy, hide), copied);
  hide.addEventListener('click', () => box.remove());
  input.addEventListener('focus', () => input.select());
  return box;
}

// users: [{id, name}] (the admin's list) or null; everyone: list every user's tokens.
export function tokenSection({ users = null, everyone = false }) {
  const nameOf = (id) => {
    if (session.user && id === session.user.id) return session.user.name;
    const user = (users || []).find((u) => u.id === id);
    return user ? user.name : id;
  };
  const slot = el('div.secret-slot');
  const body = el('tbody#tokens-body');
  const table = el('div.table-wrap', {}, el('table.table#tokens-table', {},
    el('thead', {}, el('tr', {},
      el('th', { scope: 'col' }, 'Name'),
      everyone ? el('th', { scope: 'col' }, 'User') : null,
      el('th', { scope: 'col' }, 'Created'),
      el('th', { scope: 'col' }, 'Last used'),
      el('th', { scope: 'col' }, 'Expires'),
      el('th', { scope: 'col' }, 'State'),
      el('th', { scope: 'col' }, el('span.visually-hidden', {}, 'Actions')))),
    body));

  const nameInput = el('input.input#token-name', { type: 'text', required: true, maxlength: '100',
    placeholder: 'e.g. laptop, training job' });
  const daysInput = el('input.input#token-days', { type: 'number', min: '0', max: '3650', step: '1',
    placeholder: 'never' });
  const userSelect = users ? el('select.input#token-user', {},
    users.map((u) => el('option', { value: u.id, selected: session.user && u.id === session.user.id }, u.name)))
    : null;
  const form = el('form.inline-form#token-form', { 'aria-label': 'Create a token' },
    el('label.field', {}, el('span', {}, 'Name'), nameInput),
    userSelect ? el('label.field', {}, el('span', {}, 'For user'), userSelect) : null,
    el('label.field.field-narrow', {}, el('span', {}, 'Expires in days'), daysInput),
    el('button.btn.btn-primary#token-create', { type: 'submit' }, 'Create token'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const request = { name: nameInput.value.trim() };
    if (userSelect) request.user = userSelect.value;
    if (daysInput.value !== '') request.expires_in_days = Number(daysInput.value);
    try {
      const answer = await api('POST', '/api/sam/tokens', request);
      clear(slot).append(secretBox(answer));
      nameInput.value = '';
      daysInput.value = '';
      load();
    } catch (error) {
      notify(error);
    }
  });

  const row = (t) => {
    const revoke = el('button.btn.btn-quiet.btn-danger-text', { type: 'button',
      'aria-label': `Revoke the token ${t.name}` }, 'Revoke');
    revoke.addEventListener('click', async () => {
      const ok = await confirmAction(`Revoke the token “${t.name}”? Programs using it are refused from now on.`,
        'Revoke');
      if (!ok) return;
      revoke.disabled = true;
      try {
        await api('DELETE', `/api/sam/token/${encodeURIComponent(t.id)}`);
        notify(`Revoked the token “${t.name}”.`, 'info');
        load();
      } catch (error) {
        revoke.disabled = false;
        notify(error);
      }
    });
    return el('tr', { dataset: { tokenId: t.id, tokenName: t.name } },
      el('td.cell-name', {}, t.name),
      everyone ? el('td', {}, nameOf(t.user_id)) : null,
      el('td', {}, when(t.created_at, '')),
      el('td.token-last-used', {}, when(t.last_used_at, 'never')),
      el('td', {}, when(t.expires_at, 'never')),
      el('td.token-state', {}, t.revoked ? `revoked ${when(t.revoked_at, '')}` : 'active'),
      el('td.cell-actions', {}, t.revoked ? null : revoke));
  };

  let alive = true;
  const load = async () => {
    try {
      const { tokens } = await api('GET', everyone ? '/api/sam/tokens?all=1' : '/api/sam/tokens');
      if (!alive) return;
      clear(body);
      if (tokens.length === 0) {
        body.append(el('tr', {}, el('td.empty', { colspan: everyone ? '7' : '6' }, 'No tokens yet.')));
      }
      for (const t of tokens) body.append(row(t));
    } catch (error) {
      if (alive) notify(error);
    }
  };
  load();

  const node = el('section.panel.admin-section#tokens', { 'aria-labelledby': 'tokens-title' },
    el('div.panel-head', {}, el('h2#tokens-title', {}, everyone ? 'Tokens' : 'My tokens')),
    el('p.muted.section-hint', {}, 'A token lets a program (or a login) act as its user: '
      + 'send it as “Authorization: Bearer <token>”.'),
    form, slot, table);
  return { node, stop: () => { alive = false; } };
}

// #/tokens: the caller's own tokens.
export function renderMyTokens({ main, setCrumbs }) {
  setCrumbs([{ label: 'Datasets', href: '#/' }, { label: 'My tokens' }]);
  document.title = 'samcache — my tokens';
  const section = tokenSection({});
  main.append(el('div.admin', {}, section.node));
  return section.stop;
}
