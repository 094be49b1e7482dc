// Who is logged in (GET /api/sam/me) and which of their projects the page works in. The
// chosen project is remembered in localStorage; without accounts there is no choice to make
// and the page shows every dataset, as before accounts existed.
import { api } from './api.js';

const PROJECT_KEY = 'samcache.project';

// accounts: the server has accounts; user: {id, name, role} or null; projects: the caller's.
export const session = { accounts: false, user: null, projects: [], projectId: null };

function remembered() {
  try {
    return localStorage.getItem(PROJECT_KEY);
  } catch {
    return null;  // storage may be off; the first project is then chosen each time
  }
}

function remember(projectId) {
  try {
    localStorage.setItem(PROJECT_KEY, projectId);
  } catch {
    // Not remembered: harmless.
  }
}

// Takes in a /me answer and picks the project: the remembered one when still offered.
export function applyMe(me) {
  session.accounts = Boolean(me.accounts);
  session.user = me.user || null;
  session.projects = Array.isArray(me.projects) ? me.projects : [];
  const wanted = remembered();
  const chosen = session.projects.find((p) => p.id === wanted) || session.projects[0] || null;
  session.projectId = chosen ? chosen.id : null;
}

// Reads /me again (after the admin changed projects or memberships). Throws the ApiError.
export async function reloadMe() {
  applyMe(await api('GET', '/api/sam/me'));
}

export function forget() {
  session.user = null;
  session.projects = [];
  session.projectId = null;
}

export function chooseProject(projectId) {
  if (!session.projects.some((p) => p.id === projectId)) return;
  session.projectId = projectId;
  remember(projectId);
}

export function currentProject() {
  if (!session.accounts) return null;
  return session.projects.find((p) => p.id === session.projectId) || null;
}

// The caller's role in a project: 'viewer' | 'annotator' | 'admin', or null. Without accounts
// everyone may do everything.
export function roleIn(projectId) {
  if (!session.accounts) return 'admin';
  const project = session.projects.find((p) => p.id === projectId);
  return project ? project.role : null;
}

export function canWriteIn(projectId) {
  const role = roleIn(projectId);
  return role === 'annotator' || role === 'admin';
}

export function isAdmin() {
  return session.accounts && session.user && session.user.role === 'admin';
}

// `?project=<id>` (or `&project=`) for the dataset list and new uploads; empty without accounts.
export function projectParam(separator = '?') {
  const project = currentProject();
  return project ? `${separator}project=${encodeURIComponent(project.id)}` : '';
}
