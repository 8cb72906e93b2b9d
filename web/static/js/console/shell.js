// The console pages' shared skeleton: the top bar (nav, who is signed in, log out), the sign-in
// panel in front of <main id="app">, the role gate, and the way back to sign-in when the session ends.

import { api, currentAuth, logOut, onSessionEnd, saveAuth } from '../common/api.js';
import { clearError, h, showError } from './dom.js';

const PAGES = [
  ['/supervisor', 'Live floor'],
  ['/reports', 'Reports'],
  ['/admin', 'Admin'],
];

function topBar(current, status) {
  return h('header', { class: 'topbar' },
    h('h1', {}, 'Switchboard'),
    h('nav', { 'aria-label': 'Console' },
      PAGES.map(([href, label]) => h('a', { href, 'aria-current': href === current ? 'page' : null }, label))),
    h('span', { class: 'spacer' }),
    status,
    h('span', { id: 'who' }),
    h('button', { type: 'button', id: 'logout', hidden: true }, 'Log out'));
}

function field(id, label, attrs) {
  return h('div', { class: 'wide' }, h('label', { for: id }, label), h('input', { id, required: true, ...attrs }));
}

function signInPanel(title) {
  return h('section', { id: 'login', class: 'login-panel', hidden: true, 'aria-labelledby': 'login-title' },
    h('div', { class: 'panel' },
      h('h2', { id: 'login-title' }, title),
      h('form', { id: 'login-form', class: 'form-grid' },
        field('login-email', 'Email', { name: 'email', type: 'email', autocomplete: 'username' }),
        field('login-password', 'Password', { name: 'password', type: 'password', autocomplete: 'current-password' }),
        h('div', { class: 'wide' }, h('button', { class: 'primary', type: 'submit' }, 'Sign in'))),
      h('div', { id: 'login-error', class: 'form-error', role: 'alert', hidden: true })));
}

/**
 * Build the skeleton around the page's <main id="app">, then run `start(session)` once a user with
 * one of `roles` is signed in (the sign-in panel shows until then). `current` is the page's path;
 * `status` an optional element for the top bar (the live floor's connection badge).
 */
export function openConsole({ current, signInTitle, roles, start, status = null }) {
  const loginSection = signInPanel(signInTitle);
  document.body.prepend(
    h('a', { class: 'skip-link', href: '#app' }, 'Skip to content'),
    topBar(current, status),
    loginSection,
  );
  const app = document.getElementById('app');
  const form = document.getElementById('login-form');
  const errBox = document.getElementById('login-error');
  const who = document.getElementById('who');
  const logoutBtn = document.getElementById('logout');

  const enter = (s) => {
    loginSection.hidden = true;
    app.hidden = false;
    who.textContent = `${s.display_name || s.email} (${s.role})`;
    logoutBtn.hidden = false;
    start(s);
  };
  const showLogin = (message) => {
    app.hidden = true;
    loginSection.hidden = false;
    logoutBtn.hidden = true;
    who.textContent = '';
    if (message) showError(errBox, { code: 'signed_out', message });
    form.querySelector('input[name=email]').focus();
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError(errBox);
    const data = new FormData(form);
    try {
      const r = await api('/api/v1/auth/login',
        { method: 'POST', body: { email: data.get('email'), password: data.get('password') }, auth: null });
      if (!roles.includes(r.role)) {
        // not remembered: whoever is signed in on this tab stays signed in
        showError(errBox, { code: 'forbidden', message: `this page is for: ${roles.join(', ')}` });
        return;
      }
      const s = { ...r, email: data.get('email') };
      saveAuth(s);
      form.reset();
      enter(s);
    } catch (err) {
      showError(errBox, err);
    }
  });

  logoutBtn.addEventListener('click', async () => {
    await logOut();
    location.reload();
  });
  onSessionEnd(() => location.reload());

  const s = currentAuth();
  if (s && roles.includes(s.role)) enter(s);
  else showLogin(s ? `signed in as ${s.role}; this page is for ${roles.join(', ')}` : null);
}
