// Skills, idle codes and wrap-up codes: three small lists with the same add/delete shape.

import { api } from '../common/api.js';
import { h, onSubmit, showError } from '../console/dom.js';
import { deleteButton } from './rows.js';

const LISTS = [
  { path: '/api/v1/skills', title: 'Skills', key: 'name', text: 'description', keyLabel: 'Skill name', textLabel: 'Description' },
  { path: '/api/v1/idle-codes', title: 'Idle codes', key: 'code', text: 'label', keyLabel: 'Idle code', textLabel: 'Label' },
  { path: '/api/v1/wrap-up-codes', title: 'Wrap-up codes', key: 'code', text: 'label', keyLabel: 'Wrap-up code', textLabel: 'Label' },
];

function codeList(spec) {
  const id = spec.title.toLowerCase().replace(/[^a-z]+/g, '-');
  const tbody = h('tbody');
  const errBox = h('div', { class: 'form-error', role: 'alert', hidden: true });
  const keyInput = h('input', { id: `${id}-key`, name: 'key', type: 'text', required: true });
  const textInput = h('input', { id: `${id}-text`, name: 'text', type: 'text', required: spec.text === 'label' });
  const form = h('form', { class: 'form-grid', novalidate: true },
    h('div', {}, h('label', { for: `${id}-key` }, spec.keyLabel), keyInput),
    h('div', {}, h('label', { for: `${id}-text` }, spec.textLabel), textInput),
    h('div', {}, h('button', { type: 'submit', class: 'primary' }, `Add ${spec.keyLabel.toLowerCase()}`)));

  const load = async () => {
    try {
      const items = (await api(spec.path)).items || [];
      tbody.replaceChildren(...items.map((it) => {
        const del = deleteButton({ label: 'Delete', ariaLabel: `Delete ${spec.keyLabel.toLowerCase()} ${it[spec.key]}`,
          path: `${spec.path}/${encodeURIComponent(it[spec.key])}`, errBox, reload: load });
        return h('tr', {}, h('td', { class: 'mono' }, it[spec.key]), h('td', {}, it[spec.text] || ''), h('td', {}, del));
      }));
    } catch (err) {
      showError(errBox, err);
    }
  };
  onSubmit(form, errBox, async () => {
    const body = { [spec.key]: keyInput.value.trim(), [spec.text]: textInput.value.trim() };
    await api(spec.path, { method: 'POST', body });
    form.reset();
    await load();
  });
  load();
  return h('section', { 'aria-labelledby': `${id}-title` },
    h('h3', { id: `${id}-title` }, spec.title),
    h('table', { class: 'data' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, spec.keyLabel),
      h('th', { scope: 'col' }, spec.textLabel), h('th', { scope: 'col' }, 'Actions'))), tbody),
    form, errBox);
}

export function codesSection() {
  document.getElementById('code-lists').replaceChildren(...LISTS.map(codeList));
}
