// The sign-in form the staff pages share: email + password → token in sessionStorage.

import { logIn } from "./api.js";
import { h } from "./dom.js";
import { errorText } from "./format.js";

/**
 * A login form element. roles: the roles this page accepts (others are told so, not signed in);
 * onLogin(login) runs after a successful login; beforeSubmit() runs inside the click (a user gesture).
 */
export function loginForm({ title = "Sign in", roles = null, onLogin, beforeSubmit = null, email = "" }) {
  const error = h("p", { class: "form-error", role: "alert", "aria-live": "assertive" });
  const emailIn = h("input", { id: "login-email", type: "email", name: "email", autocomplete: "username",
    required: true, value: email });
  const pwIn = h("input", { id: "login-password", type: "password", name: "password",
    autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "login card", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, title),
    h("label", { for: "login-email" }, "Email"), emailIn,
    h("label", { for: "login-password" }, "Password"), pwIn,
    submit, error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    beforeSubmit?.();
    submit.disabled = true;
    try {
      const login = await logIn(emailIn.value.trim(), pwIn.value);
      if (roles && !roles.includes(login.role)) {
        error.textContent = `This page is for: ${roles.join(", ")}. You are signed in as ${login.role}.`;
        return;
      }
      await onLogin(login);
    } catch (e) {
      error.textContent = errorText(e);
    } finally {
      submit.disabled = false;
    }
  });
  queueMicrotask(() => (email ? pwIn : emailIn).focus());
  return form;
}
