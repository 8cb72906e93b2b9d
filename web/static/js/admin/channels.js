// Channel provider settings per channel, edited as JSON. The route may not exist on this server
// yet; a 404 shows "not available" instead of an error.

import { api } from '../common/api.js';
import { h, onSubmit, showError, showNotice } from '../console/dom.js';

const CHANNELS = ['sms', 'whatsapp', 'messenger', 'email'];

function channelPanel(channel) {
  const id = `ch-${channel}`;
  const status = h('p', { class: 'hint', role: 'status' }, 'Loading…');
  const text = h('textarea', { id: `${id}-json`, rows: 8, disabled: true });
  const errBox = h('div', { class: 'form-error', role: 'alert', hidden: true });
  const notice = h('div', { class: 'notice', role: 'status', hidden: true });
  const save = h('button', { type: 'submit', class: 'primary', disabled: true }, `Save ${channel}`);
  const form = h('form', { novalidate: true }, h('label', { for: `${id}-json` }, `${channel} settings (JSON)`), text,
    errBox, notice, h('div', { class: 'form-actions' }, save));

  const load = async () => {
    try {
      const cfg = await api(`/api/v1/channels/${channel}`);
      text.value = JSON.stringify(cfg, null, 2);
      text.disabled = save.disabled = false;
      status.textContent = 'Configured.';
    } catch (err) {
      if (err.status === 404 && err.message !== 'Not Found') {
        // the route exists (a bare "Not Found" is the router's) but this channel has no settings yet
        text.value = '{\n  \n}';
        text.disabled = save.disabled = false;
        status.textContent = 'Not configured yet.';
      } else if (err.status === 404 || err.status === 405) {
        status.textContent = 'Channel settings are not available on this server.';
        form.hidden = true;
      } else {
        status.textContent = '';
        showError(errBox, err);
      }
    }
  };
  onSubmit(form, errBox, async () => {
    notice.hidden = true;
    let body;
    try {
      body = JSON.parse(text.value);
    } catch (err) {
      showError(errBox, { code: 'invalid_json', message: err.message });
      return;
    }
    const saved = await api(`/api/v1/channels/${channel}`, { method: 'PUT', body });
    text.value = JSON.stringify(saved, null, 2);
    showNotice(notice, `Saved ${channel} settings.`);
  });
  load();
  return h('section', { class: 'panel', 'aria-labelledby': `${id}-title`, dataset: { channel } },
    h('h3', { id: `${id}-title` }, channel), status, form);
}

export function channelsSection() {
  document.getElementById('channel-list').replaceChildren(...CHANNELS.map(channelPanel));
}
