// The admin console: sections switched by the URL hash, each loaded the first time it is shown.

import { openConsole } from '../console/shell.js';
import { channelsSection } from './channels.js';
import { codesSection } from './codes.js';
import { keysSection } from './keys.js';
import { licensesSection } from './licenses.js';
import { queuesSection } from './queues.js';
import { spoolsSection } from './spools.js';
import { usersSection } from './users.js';

const SECTIONS = {
  users: usersSection,
  queues: queuesSection,
  codes: codesSection,
  'api-keys': keysSection,
  channels: channelsSection,
  licenses: licensesSection,
  spools: spoolsSection,
};

function start() {
  const loaded = new Set();
  const show = () => {
    const name = SECTIONS[location.hash.slice(1)] ? location.hash.slice(1) : 'users';
    for (const el of document.querySelectorAll('[data-section]')) el.hidden = el.id !== name;
    for (const a of document.querySelectorAll('.tabs a')) {
      if (a.getAttribute('href') === `#${name}`) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    if (!loaded.has(name)) {
      loaded.add(name);
      SECTIONS[name]();
    }
  };
  window.addEventListener('hashchange', show);
  show();
}

openConsole({ current: '/admin', signInTitle: 'Admin sign-in', roles: ['admin'], start });
