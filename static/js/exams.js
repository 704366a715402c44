// Exam configuration pages: password reveal and the invalid state after inline validation. No inline scripts.
(function () {
  "use strict";
  function wireReveal(root) {
    root.querySelectorAll("button[data-reveal]").forEach(function (button) {
      var input = document.getElementById(button.getAttribute("data-reveal"));
      if (!input || input.disabled || button.dataset.wired) { return; }
      button.dataset.wired = "1";
      button.hidden = false;
      button.addEventListener("click", function () {
        var show = input.type === "password";
        input.type = show ? "text" : "password";
        button.textContent = show ? "Hide" : "Show";
        button.setAttribute("aria-pressed", show ? "true" : "false");
      });
    });
  }
  // Copy buttons beside SIDs (hidden without JavaScript: the SID is in the page and in the title anyway).
  function wireCopy(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      if (button.dataset.wired) { return; }
      button.dataset.wired = "1";
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = button.getAttribute("data-copy");
        var done = function () {
          button.textContent = "Copied";
          button.classList.add("copied");
          window.setTimeout(function () { button.textContent = "Copy"; button.classList.remove("copied"); }, 1500);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () {});
        } else {
          var area = document.createElement("textarea");
          area.value = text;
          area.setAttribute("readonly", "");
          area.className = "visually-hidden";
          document.body.appendChild(area);
          area.select();
          try { document.execCommand("copy"); done(); } catch (e) { /* the SID stays visible to copy by hand */ }
          document.body.removeChild(area);
        }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { wireReveal(document); wireCopy(document); });
  document.addEventListener("htmx:afterSettle", function (event) {
    wireReveal(document);
    wireCopy(document);
    // After an inline-validation answer: mark each input invalid (or valid again) as its error slot says.
    document.querySelectorAll(".field-error-slot[data-for]").forEach(function (slot) {
      var name = slot.getAttribute("data-for");
      var input = name && document.querySelector('[name="' + CSS.escape(name) + '"]:not([type=hidden])');
      if (!input) { return; }
      if (slot.hasAttribute("data-invalid")) { input.setAttribute("aria-invalid", "true"); }
      else { input.removeAttribute("aria-invalid"); }
    });
  });
})();
