// The console's login gate: a form in #login, role check, token in sessionStorage, logout.

import { api, clearError, clearSession, currentSession, saveSession, showError } from './api.js';

/**
 * Run `start(session)` once a user with one of `roles` is logged in; show the login form otherwise.
 */
export function requireLogin(roles, start) {
  const loginSection = document.getElementById('login');
  const app = document.getElementById('app');
  const form = document.getElementById('login-form');
  const errBox = document.getElementById('login-error');
  const who = document.getElementById('who');
  const logoutBtn = document.getElementById('logout');

  const enter = (s) => {
    loginSection.hidden = true;
    app.hidden = false;
    if (who) who.textContent = `${s.display_name || s.email} (${s.role})`;
    if (logoutBtn) logoutBtn.hidden = false;
    start(s);
  };
  const showLogin = (message) => {
    app.hidden = true;
    loginSection.hidden = false;
    if (logoutBtn) logoutBtn.hidden = true;
    if (who) who.textContent = '';
    if (message) showError(errBox, { code: 'signed_out', message });
    form.querySelector('input[name=email]').focus();
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError(errBox);
    const data = new FormData(form);
    try {
      const r = await api('POST', '/api/v1/auth/login',
        { email: data.get('email'), password: data.get('password') }, { noLogout: true });
      if (!roles.includes(r.role)) {
        showError(errBox, { code: 'forbidden', message: `this page is for: ${roles.join(', ')}` });
        return;
      }
      const s = { ...r, email: data.get('email') };
      saveSession(s);
      form.reset();
      enter(s);
    } catch (err) {
      showError(errBox, err);
    }
  });

  if (logoutBtn) {
    logoutBtn.addEventListener('click', async () => {
      try {
        await api('POST', '/api/v1/auth/logout', {}, { noLogout: true });
      } catch {
        /* the token may already be gone */
      }
      clearSession();
      location.reload();
    });
  }
  document.addEventListener('console:logged-out', () => {
    location.reload();
  });

  const s = currentSession();
  if (s && roles.includes(s.role)) enter(s);
  else showLogin(s ? `signed in as ${s.role}; this page is for ${roles.join(', ')}` : null);
}
