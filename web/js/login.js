// The login screen: an API token (or a login link's secret), or a user name and password.
// POST /api/sam/login answers with the /me body and sets the HttpOnly session cookie.
import { api } from './api.js';
import { el } from './ui.js';

export const LINK_FAILED_TEXT = 'This login link was used already or has expired';

// onLoggedIn(me) runs after a successful login. `linkFailed`: the page was opened at
// /?login=failed (the server's answer to an unknown, used or expired login link).
export function renderLogin(main, { linkFailed, onLoggedIn }) {
  const message = el('p.login-error.error-text#login-error', { role: 'alert', hidden: !linkFailed },
    linkFailed ? `${LINK_FAILED_TEXT}. Log in below, or ask an admin for a new link.` : '');

  const fail = (error) => {
    message.textContent = error.message;
    message.hidden = false;
  };

  const tokenInput = el('input.input#login-token', {
    type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: 'sc_…', required: true,
    'aria-describedby': 'login-token-hint',
  });
  const tokenForm = el('form.login-form#login-token-form', { 'aria-labelledby': 'login-token-title' },
    el('h2#login-token-title', {}, 'With a token'),
    el('label', { for: 'login-token' }, 'API token or login link secret'),
    tokenInput,
    el('p.muted.login-hint#login-token-hint', {}, 'An admin creates tokens on the Admin page or with `samcache token create`.'),
    el('button.btn.btn-primary#login-token-submit', { type: 'submit' }, 'Log in with the token'));

  const userInput = el('input.input#login-user', { type: 'text', autocomplete: 'username', required: true,
    maxlength: '200' });
  const passwordInput = el('input.input#login-password', { type: 'password', autocomplete: 'current-password',
    required: true });
  const passwordForm = el('form.login-form#login-password-form', { 'aria-labelledby': 'login-password-title' },
    el('h2#login-password-title', {}, 'With a password'),
    el('label', { for: 'login-user' }, 'User name'), userInput,
    el('label', { for: 'login-password' }, 'Password'), passwordInput,
    el('button.btn.btn-primary#login-password-submit', { type: 'submit' }, 'Log in'));

  const submit = (form, body) => async (event) => {
    event.preventDefault();
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const me = await api('POST', '/api/sam/login', body());
      onLoggedIn(me);
    } catch (error) {
      fail(error);
      buttons.forEach((b) => { b.disabled = false; });
    }
  };
  tokenForm.addEventListener('submit', submit(tokenForm, () => ({ token: tokenInput.value.trim() })));
  passwordForm.addEventListener('submit', submit(passwordForm,
    () => ({ user: userInput.value.trim(), password: passwordInput.value })));

  main.append(el('section.panel.login#login', { 'aria-labelledby': 'login-title' },
    el('h1#login-title', {}, 'Log in to samcache'),
    el('p.muted', {}, 'This server has accounts. Log in with a token or with your user name and password.'),
    message,
    el('div.login-forms', {}, passwordForm, tokenForm)));
  userInput.focus();
}
