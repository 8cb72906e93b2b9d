// The row action the admin tables share: delete (deactivate, revoke) after a confirm, then reload.

import { api } from '../common/api.js';
import { clearError, h, showError } from '../console/dom.js';

/**
 * A danger button that DELETEs `path` once the user confirms `question` (none: no prompt), then
 * runs `reload`; a refusal is shown in `errBox`.
 */
export function deleteButton({ label, ariaLabel, path, question = null, disabled = false, errBox, reload }) {
  const run = async () => {
    if (question && !confirm(question)) return;
    try {
      await api(path, { method: 'DELETE' });
      clearError(errBox);
      await reload();
    } catch (err) {
      showError(errBox, err);
    }
  };
  return h('button', { type: 'button', class: 'danger', 'aria-label': ariaLabel, disabled, onclick: run }, label);
}
