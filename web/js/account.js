// The header's account area: the project switcher, the admin (or "My tokens") link, who is
// logged in and the logout button. Hidden when the server has no accounts.
import { session, chooseProject, isAdmin } from './session.js';
import { el, clear } from './ui.js';

const box = () => document.getElementById('account');

export function hideAccount() {
  box().hidden = true;
  clear(box());
}

// onProjectChange() runs after the person picks another project; onLogout() on the button.
export function showAccount({ onProjectChange, onLogout }) {
  const area = clear(box());
  if (!session.accounts || !session.user) {
    area.hidden = true;
    return;
  }
  const select = el('select.input.project-select#project-select', { 'aria-label': 'Project' });
  for (const p of session.projects) {
    const option = el('option', { value: p.id }, p.name);
    if (p.role === 'viewer') option.textContent = `${p.name} (view only)`;
    select.append(option);
  }
  if (session.projectId) select.value = session.projectId;
  select.disabled = session.projects.length === 0;
  select.addEventListener('change', () => {
    chooseProject(select.value);
    onProjectChange();
  });
  const picker = el('label.project-picker', {},
    el('span.project-label', {}, 'Project'),
    session.projects.length ? select : el('span.muted#project-none', {}, 'none yet'));

  const link = isAdmin()
    ? el('a.btn.btn-quiet#admin-link', { href: '#/admin' }, 'Admin')
    : el('a.btn.btn-quiet#tokens-link', { href: '#/tokens' }, 'My tokens');
  const logout = el('button.btn#logout', { type: 'button', title: `Log out ${session.user.name}` }, 'Log out');
  logout.addEventListener('click', onLogout);
  area.append(picker, link,
    el('span.user', { title: `role: ${session.user.role}` },
      el('span.user-icon', { 'aria-hidden': 'true' }, '👤'),
      el('span#user-name', {}, session.user.name)),
    logout);
  area.hidden = false;
}
