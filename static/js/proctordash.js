// ProctorDash's little JavaScript: no inline scripts anywhere (the Content-Security-Policy forbids them), only
// explicit data-* hooks. htmx does the rest.
(function () {
  "use strict";
  // Announce htmx swaps to screen readers through the page's aria-live region.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    // An outerHTML swap replaces the target: announce the new element's message, not the old one's.
    if (target && !target.isConnected && target.id) { target = document.getElementById(target.id) || target; }
    var message = target && target.getAttribute && target.getAttribute("data-announce");
    var announcer = document.getElementById("announcer");
    if (message && announcer) { announcer.textContent = message; }
  });
})();
