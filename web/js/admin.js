// #/admin (admins only): users (add with a role and an optional password, change either,
// remove), projects (add, remove, members with their role) and everyone's API tokens.
import { api } from './api.js';
import { formatDate } from './format.js';
import { isAdmin, session } from './session.js';
import { tokenSection } from './tokens.js';
import { el, clear, confirmAction, notify } from './ui.js';

const ROLES = ['viewer', 'annotator', 'admin'];
const DEFAULT_PROJECT = '0000000000000000';  // the server's own project; it cannot be removed
const MEMBER_ROLES = ['annotator', 'viewer'];

function roleSelect(id, roles, selected, label) {
  return el(`select.input.role-select${id ? `#${id}` : ''}`, { 'aria-label': label },
    roles.map((r) => el('option', { value: r, selected: r === selected }, r)));
}

// Runs `action` with the button disabled; a failure becomes a notice. Resolves true on success.
async function busy(button, action) {
  button.disabled = true;
  try {
    await action();
    return true;
  } catch (error) {
    notify(error);
    return false;
  } finally {
    button.disabled = false;
  }
}

const userPath = (u) => `/api/sam/user/${encodeURIComponent(u.id)}`;

// A user's role, changed with PUT /api/sam/user/{id}; a refusal (the last admin) shows the
// server's reason and puts the kept role back.
function userRole(u, changed) {
  const select = roleSelect(null, ROLES, u.role, `Role of ${u.name}`);
  select.addEventListener('change', async () => {
    const role = select.value;
    if (await busy(select, () => api('PUT', userPath(u), { role }))) {
      notify(`“${u.name}” is now ${role}.`, 'info');
      changed();
    } else {
      select.value = u.role;
    }
  });
  return select;
}

// A new password for a user; the server judges it (8 characters or more) and says why not.
function userPassword(u, changed) {
  const input = el('input.input.user-new-password', { type: 'password', autocomplete: 'new-password',
    placeholder: 'new password', 'aria-label': `New password for ${u.name}` });
  const set = el('button.btn.user-set-password', { type: 'submit' }, 'Set');
  const form = el('form.inline-form.user-password-form', { 'aria-label': `Set a password for ${u.name}` },
    input, set);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!input.value) return;
    if (await busy(set, () => api('PUT', userPath(u), { password: input.value }))) {
      notify(`Set a new password for “${u.name}”.`, 'info');
      changed();
    } else {
      input.value = '';
    }
  });
  return form;
}

function usersSection(users, changed) {
  const body = el('tbody#users-body');
  for (const u of users) {
    const self = session.user && u.id === session.user.id;
    const remove = el('button.btn.btn-quiet.btn-danger-text', { type: 'button', 'aria-label': `Remove the user ${u.name}` },
      'Remove');
    remove.addEventListener('click', async () => {
      if (!await confirmAction(`Remove the user “${u.name}”? Their sessions and tokens stop working.`, 'Remove')) return;
      if (await busy(remove, () => api('DELETE', `/api/sam/user/${encodeURIComponent(u.id)}`))) {
        notify(`Removed the user “${u.name}”.`, 'info');
        changed();
      }
    });
    body.append(el('tr', { dataset: { userId: u.id, userName: u.name } },
      el('td.cell-name', {}, u.name, self ? el('span.muted', {}, ' (you)') : null),
      el('td.user-role', {}, userRole(u, changed)),
      el('td', {}, el('span.user-has-password', {}, u.has_password ? 'yes' : 'no'), userPassword(u, changed)),
      el('td', {}, formatDate(u.created_at)),
      el('td.cell-actions', {}, self ? null : remove)));
  }
  const name = el('input.input#new-user-name', { type: 'text', required: true, maxlength: '64', autocomplete: 'off' });
  const role = roleSelect('new-user-role', ROLES, 'annotator', 'Role of the new user');
  const password = el('input.input#new-user-password', { type: 'password', autocomplete: 'new-password',
    minlength: '8', placeholder: 'optional, 8 characters or more' });
  const add = el('button.btn.btn-primary#add-user', { type: 'submit' }, 'Add user');
  const form = el('form.inline-form#add-user-form', { 'aria-label': 'Add a user' },
    el('label.field', {}, el('span', {}, 'Name'), name),
    el('label.field.field-narrow', {}, el('span', {}, 'Role'), role),
    el('label.field', {}, el('span', {}, 'Password'), password),
    add);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const request = { name: name.value.trim(), role: role.value };
    if (password.value) request.password = password.value;
    if (await busy(add, () => api('POST', '/api/sam/users', request))) {
      notify(`Added the user “${request.name}”.`, 'info');
      changed();
    }
  });
  return el('section.panel.admin-section#users', { 'aria-labelledby': 'users-title' },
    el('div.panel-head', {}, el('h2#users-title', {}, 'Users')),
    el('p.muted.section-hint', {}, 'A user without a password logs in with a token. '
      + 'An admin sees and manages every project.'),
    form,
    el('div.table-wrap', {}, el('table.table#users-table', {},
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Name'), el('th', { scope: 'col' }, 'Role'),
        el('th', { scope: 'col' }, 'Password'), el('th', { scope: 'col' }, 'Created'),
        el('th', { scope: 'col' }, el('span.visually-hidden', {}, 'Actions')))),
      body)));
}

// The members of one project: change a role, remove, add a user.
function membersBlock(project, users, changed) {
  const block = el('div.members', { dataset: { projectId: project.id } });
  const path = `/api/sam/project/${encodeURIComponent(project.id)}/members`;
  const load = async () => {
    let members;
    try {
      ({ members } = await api('GET', path));
    } catch (error) {
      notify(error);
      return;
    }
    clear(block);
    const list = el('ul.member-list');
    for (const m of members) {
      const memberPath = `${path}/${encodeURIComponent(m.user_id)}`;
      const role = roleSelect(null, MEMBER_ROLES, m.role, `Role of ${m.user_name} in ${project.name}`);
      role.addEventListener('change', async () => {
        if (await busy(role, () => api('PUT', memberPath, { role: role.value }))) changed();
        else load();  // show the role the server kept
      });
      const remove = el('button.btn.btn-quiet.btn-danger-text', { type: 'button',
        'aria-label': `Remove ${m.user_name} from ${project.name}` }, 'Remove');
      remove.addEventListener('click', async () => {
        if (await busy(remove, () => api('DELETE', memberPath))) {
          load();
          changed();
        }
      });
      list.append(el('li.member', { dataset: { userName: m.user_name } },
        el('span.member-name', {}, m.user_name), role, remove));
    }
    if (members.length === 0) list.append(el('li.empty', {}, 'No members yet (admins see every project).'));
    // Admins see every project already: membership would change nothing for them.
    const candidates = users.filter((u) => u.role !== 'admin' && !members.some((m) => m.user_id === u.id));
    const user = el('select.input.member-user', { 'aria-label': `User to add to ${project.name}` },
      candidates.map((u) => el('option', { value: u.id }, u.name)));
    const role = roleSelect(null, MEMBER_ROLES, 'annotator', `Role in ${project.name}`);
    role.classList.add('member-new-role');
    const add = el('button.btn.member-add', { type: 'submit' }, 'Add member');
    const form = el('form.inline-form.member-form', { 'aria-label': `Add a member to ${project.name}` },
      user, role, add);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!user.value) return;
      if (await busy(add, () => api('PUT', `${path}/${encodeURIComponent(user.value)}`, { role: role.value }))) {
        load();
        changed();
      }
    });
    block.append(list, candidates.length ? form : null);
  };
  load();
  return block;
}

function projectsSection(projects, users, changed, reload) {
  const list = el('ul.rows#projects-list');
  for (const p of projects) {
    const membersSlot = el('div.members-slot');
    const toggle = el('button.btn.members-toggle', { type: 'button', 'aria-expanded': 'false' }, 'Members');
    toggle.addEventListener('click', () => {
      const open = toggle.getAttribute('aria-expanded') === 'true';
      toggle.setAttribute('aria-expanded', String(!open));
      clear(membersSlot);
      if (!open) membersSlot.append(membersBlock(p, users, changed));
    });
    const remove = el('button.btn.btn-quiet.btn-danger-text', { type: 'button', 'aria-label': `Remove the project ${p.name}` },
      'Remove');
    remove.addEventListener('click', async () => {
      if (!await confirmAction(`Remove the project “${p.name}”? Only a project without datasets can go.`, 'Remove')) return;
      if (await busy(remove, () => api('DELETE', `/api/sam/project/${encodeURIComponent(p.id)}`))) {
        notify(`Removed the project “${p.name}”.`, 'info');
        changed();
        reload();
      }
    });
    list.append(el('li.project-row', { dataset: { projectId: p.id, projectName: p.name } },
      el('div.row', {},
        el('div.row-main', {}, el('span.row-title', {}, p.name),
          el('span.row-meta', {}, `created ${formatDate(p.created_at)}`)),
        el('div.row-actions', {}, toggle, p.id === DEFAULT_PROJECT ? null : remove)),
      membersSlot));
  }
  const name = el('input.input#new-project-name', { type: 'text', required: true, maxlength: '200', autocomplete: 'off' });
  const add = el('button.btn.btn-primary#add-project', { type: 'submit' }, 'Add project');
  const form = el('form.inline-form#add-project-form', { 'aria-label': 'Add a project' },
    el('label.field', {}, el('span', {}, 'Name'), name), add);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const request = { name: name.value.trim() };
    if (await busy(add, () => api('POST', '/api/sam/projects', request))) {
      notify(`Added the project “${request.name}”.`, 'info');
      changed();
      reload();
    }
  });
  return el('section.panel.admin-section#projects', { 'aria-labelledby': 'projects-title' },
    el('div.panel-head', {}, el('h2#projects-title', {}, 'Projects')),
    el('p.muted.section-hint', {}, 'Datasets belong to a project; members see it (viewer) or also change it (annotator).'),
    form, list);
}

export function renderAdmin({ main, setCrumbs, onAccountsChanged }) {
  setCrumbs([{ label: 'Datasets', href: '#/' }, { label: 'Admin' }]);
  document.title = 'samcache — admin';
  if (!isAdmin()) {
    main.append(el('section.panel', {}, el('h1', {}, 'Admins only'),
      el('p', {}, 'This page is for admins. '), el('a', { href: '#/tokens' }, 'Your own tokens are here.')));
    return () => {};
  }
  let alive = true;
  let tokens = null;
  const root = el('div.admin#admin', {}, el('p.muted', {}, 'Loading…'));
  main.append(el('h1.admin-title', {}, 'Admin'), root);

  // Draws every section again from fresh lists (after a user or project was added or removed).
  const draw = async () => {
    let users;
    let projects;
    try {
      [{ users }, { projects }] = await Promise.all([api('GET', '/api/sam/users'), api('GET', '/api/sam/projects')]);
    } catch (error) {
      if (alive) notify(error);
      return;
    }
    if (!alive) return;
    if (tokens) tokens.stop();
    tokens = tokenSection({ users, everyone: true });
    const changed = () => {
      onAccountsChanged();
    };
    const redraw = () => {
      if (alive) draw();
    };
    const usersChanged = () => {
      changed();
      redraw();
    };
    clear(root).append(usersSection(users, usersChanged), projectsSection(projects, users, changed, redraw),
      tokens.node);
  };
  draw();
  return () => {
    alive = false;
    if (tokens) tokens.stop();
  };
}
