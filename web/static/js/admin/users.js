// Users and agents: list, create, edit (skills with proficiency, capacity per channel, team), deactivate.

import { api } from '../common/api.js';
import { clearError, formatPairs, h, onSubmit, parsePairs, showError, showNotice } from '../console/dom.js';
import { deleteButton } from './rows.js';

export function usersSection() {
  const tbody = document.querySelector('#users-table tbody');
  const form = document.getElementById('user-form');
  const errBox = document.getElementById('user-error');
  const notice = document.getElementById('user-notice');
  const submit = document.getElementById('user-submit');
  const cancel = document.getElementById('user-cancel');
  const title = document.getElementById('user-form-title');
  let users = [];

  const reset = () => {
    form.reset();
    form.elements.id.value = '';
    form.elements.email.disabled = false;
    title.textContent = 'New user';
    submit.textContent = 'Create user';
    cancel.hidden = true;
  };

  const edit = (u) => {
    clearError(errBox);
    form.elements.id.value = u.id;
    form.elements.email.value = u.email;
    form.elements.email.disabled = true;
    form.elements.display_name.value = u.display_name || '';
    form.elements.password.value = '';
    form.elements.role.value = u.role;
    form.elements.team.value = u.team || '';
    form.elements.skills.value = formatPairs(u.skills);
    form.elements.capacity.value = formatPairs(u.capacity);
    title.textContent = `Edit ${u.display_name || u.email}`;
    submit.textContent = 'Save changes';
    cancel.hidden = false;
    form.elements.display_name.focus();
  };

  const render = () => {
    tbody.replaceChildren(...users.map((u) => {
      const name = u.display_name || u.email;
      const del = deleteButton({ label: 'Deactivate', ariaLabel: `Deactivate ${name}`, path: `/api/v1/users/${u.id}`,
        question: `Deactivate ${name}?`, disabled: !u.active, errBox, reload: load });
      const ed = h('button', { type: 'button', 'aria-label': `Edit ${name}` }, 'Edit');
      ed.addEventListener('click', () => edit(u));
      return h('tr', { class: u.active ? '' : 'inactive', dataset: { user: u.id } },
        h('td', {}, name), h('td', {}, u.email), h('td', {}, u.role), h('td', {}, u.team || '—'),
        h('td', {}, formatPairs(u.skills) || '—'), h('td', {}, formatPairs(u.capacity) || 'defaults'),
        h('td', {}, u.active ? 'yes' : 'no'), h('td', {}, h('div', { class: 'actions' }, ed, del)));
    }));
  };

  const load = async () => {
    try {
      users = (await api('/api/v1/users')).items || [];
      render();
    } catch (err) {
      showError(errBox, err);
    }
  };

  onSubmit(form, errBox, async () => {
    notice.hidden = true;
    const f = form.elements;
    let body;
    try {
      body = {
        display_name: f.display_name.value.trim(),
        role: f.role.value,
        team: f.team.value.trim() || null,
        skills: parsePairs(f.skills.value),
        capacity: parsePairs(f.capacity.value),
      };
    } catch (err) {
      showError(errBox, { code: 'invalid_input', message: err.message });
      return;
    }
    if (f.password.value) body.password = f.password.value;
    if (f.id.value) {
      await api(`/api/v1/users/${f.id.value}`, { method: 'PATCH', body });
      showNotice(notice, `Saved ${body.display_name}.`);
    } else {
      body.email = f.email.value.trim();
      await api('/api/v1/users', { method: 'POST', body });
      showNotice(notice, `Created ${body.email}.`);
    }
    reset();
    await load();
  });
  cancel.addEventListener('click', reset);
  load();
}
