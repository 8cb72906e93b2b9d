// The landing page's embed snippet, written with this server's address, and a button to try it here.

const code = document.getElementById("embed-snippet");
const org = code?.dataset.org ?? "demo";
const src = `${location.origin}/static/js/chat/embed.js`;
if (code) code.textContent = `<script src="${src}" data-org="${org}" async></script>`;

document.getElementById("try-widget")?.addEventListener("click", (ev) => {
  ev.currentTarget.disabled = true;
  const s = document.createElement("script");
  s.src = src;
  s.dataset.org = org;
  s.async = true;
  document.body.append(s);
});
