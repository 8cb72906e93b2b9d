// The one-line web-chat embed: <script src="https://HOST/static/js/chat/embed.js" data-org="ORG" async></script>
// adds a "Chat with us" button that opens /chat/ORG of that host in a small frame.
(function () {
  "use strict";
  var script = document.currentScript;
  var org = script && script.getAttribute("data-org");
  if (!org) {
    console.warn("switchboard embed: add data-org to the script tag");
    return;
  }
  var origin = new URL(script.src, location.href).origin;
  var label = script.getAttribute("data-label") || "Chat with us";
  var frame = document.createElement("iframe");
  frame.src = origin + "/chat/" + encodeURIComponent(org);
  frame.title = label;
  frame.hidden = true;
  frame.setAttribute("data-switchboard-chat", org);
  frame.style.cssText = "position:fixed;right:1rem;bottom:4.5rem;width:min(380px,calc(100vw - 2rem));" +
    "height:min(560px,calc(100vh - 6rem));border:1px solid #d5dbe3;border-radius:8px;background:#fff;" +
    "box-shadow:0 6px 24px rgba(0,0,0,.18);z-index:2147483000";
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.setAttribute("aria-expanded", "false");
  button.style.cssText = "position:fixed;right:1rem;bottom:1rem;padding:.7rem 1.1rem;border:0;border-radius:999px;" +
    "background:#1f5fbf;color:#fff;font:600 15px system-ui,sans-serif;cursor:pointer;z-index:2147483000";
  button.addEventListener("click", function () {
    frame.hidden = !frame.hidden;
    frame.style.display = frame.hidden ? "none" : "block";
    button.setAttribute("aria-expanded", String(!frame.hidden));
  });
  frame.style.display = "none";
  document.body.appendChild(frame);
  document.body.appendChild(button);
})();
