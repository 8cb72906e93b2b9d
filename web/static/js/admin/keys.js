// Integration API keys: the secret is shown once, in the creation response, and never again.

import { api } from '../common/api.js';
import { h, onSubmit, showError } from '../console/dom.js';
import { deleteButton } from './rows.js';

export function keysSection() {
  const tbody = document.querySelector('#keys-table tbody');
  const form = document.getElementById('key-form');
  const errBox = document.getElementById('key-error');
  const created = document.getElementById('key-created');
  const secret = document.getElementById('key-secret');

  const load = async () => {
    try {
      const items = (await api('/api/v1/api-keys')).items || [];
      tbody.replaceChildren(...items.map((k) => {
        const revoke = deleteButton({ label: 'Revoke', ariaLabel: `Revoke key ${k.name}`, path: `/api/v1/api-keys/${k.id}`,
          question: `Revoke the key "${k.name}"? Integrations using it stop working at once.`,
          disabled: Boolean(k.revoked_at), errBox, reload: load });
        return h('tr', { class: k.revoked_at ? 'inactive' : '' }, h('td', {}, k.name), h('td', { class: 'mono' }, `${k.prefix}…`),
          h('td', {}, new Date(k.created_at).toLocaleString()),
          h('td', {}, k.revoked_at ? new Date(k.revoked_at).toLocaleString() : '—'), h('td', {}, revoke));
      }));
    } catch (err) {
      showError(errBox, err);
    }
  };
  onSubmit(form, errBox, async () => {
    created.hidden = true;
    const k = await api('/api/v1/api-keys', { method: 'POST', body: { name: form.elements.name.value.trim() } });
    secret.textContent = k.key;
    created.hidden = false;
    form.reset();
    await load();
  });
  load();
}
