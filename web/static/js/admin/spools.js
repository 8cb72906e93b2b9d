// What waited in Redis for PostgreSQL during an outage: the backlog, and the entries PostgreSQL
// refused as data, which no tick retries by itself. An admin reads them, then retries (after a fix)
// or discards them.

import { api } from '../common/api.js';
import { clearError, h, showError } from '../console/dom.js';
import { deleteButton } from './rows.js';

const TITLES = { reports: 'Routing reports and conversation messages', webhooks: 'Channel webhooks' };

export function spoolsSection() {
  const box = document.getElementById('spool-list');
  const errBox = document.getElementById('spool-error');

  const retryButton = (name, title, count) => h('button', {
    type: 'button', disabled: !count, 'aria-label': `Retry refused ${title.toLowerCase()}`,
    onclick: async () => {
      try {
        await api(`/api/v1/spools/${name}/retry`, { method: 'POST' });
        clearError(errBox);
        await load();
      } catch (err) {
        showError(errBox, err);
      }
    },
  }, 'Retry refused');

  const spool = (name, s) => {
    const title = TITLES[name];
    return h('article', { class: 'spool', dataset: { spool: name }, 'aria-label': title },
      h('h3', {}, title),
      h('p', { class: 'spool-counts' }, `${s.waiting} waiting for PostgreSQL · ${s.refused} refused`),
      s.refused_entries.length ? h('ul', { class: 'refused' }, ...s.refused_entries.map((e) => h('li', {},
        h('code', { class: 'mono' }, e.id),
        h('pre', { class: 'entry' }, JSON.stringify(e.entry, null, 1).slice(0, 2000))))) : null,
      h('div', { class: 'form-actions' }, retryButton(name, title, s.refused),
        deleteButton({ label: 'Discard refused', ariaLabel: `Discard refused ${title.toLowerCase()}`,
          path: `/api/v1/spools/${name}/refused`, disabled: !s.refused, errBox, reload: load,
          question: `Discard ${s.refused} refused ${title.toLowerCase()}? They will not be written.` })));
  };

  const load = async () => {
    try {
      const all = await api('/api/v1/spools');
      box.replaceChildren(...Object.keys(TITLES).map((name) => spool(name, all[name])));
    } catch (err) {
      showError(errBox, err);
    }
  };
  load();
}
