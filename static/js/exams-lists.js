// Exams lists (change history, bulk change, exams index): no inline scripts, only data-* hooks.
(function () {
  "use strict";

  // A filter URL carries only the filters in use (a plain GET form sends every field, empty or not).
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("form[data-drop-empty]");
    if (!form) { return; }
    var params = event.detail.parameters;
    Object.keys(params).forEach(function (name) {
      if (params[name] === "") { delete params[name]; }
    });
  });

  // After the results change, keyboard focus and the view go to their summary (which says what is shown).
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    if (!target) { return; }
    var root = target.isConnected ? target : document.getElementById(target.id);
    var summary = root && root.querySelector && root.querySelector("[data-focus-after-swap], .results-summary, .error-summary");
    var active = document.activeElement;
    var typing = active && (active.tagName === "TEXTAREA" || (active.tagName === "INPUT" &&
      ["text", "search"].indexOf(active.type) !== -1));
    if (typing) { return; }  // results that follow typing never take the caret away
    if (summary && summary.hasAttribute("tabindex")) {
      summary.focus({preventScroll: true});
      summary.scrollIntoView({block: "nearest"});
    }
  });

  // Copy buttons: <button type="button" data-copy="EX…"> (hidden without JavaScript; the SID is in the title).
  function wireCopy(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      if (button.dataset.wired) { return; }
      button.dataset.wired = "1";
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = button.getAttribute("data-copy");
        var done = function () {
          var label = button.getAttribute("aria-label") || "";
          button.setAttribute("aria-label", "Copied");
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy ID"; button.setAttribute("aria-label", label); }, 1500);
        };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(done, function () {});
        }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { wireCopy(document); });
  document.addEventListener("htmx:afterSettle", function () { wireCopy(document); });
})();
// Bulk change picker: narrow the course list as you type (without JavaScript every course is listed).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.querySelector("[data-bulk-filter]");
    if (!box) { return; }
    box.hidden = false;
    var input = box.querySelector("input");
    var count = document.getElementById("bulk-filter-count");
    var courses = Array.prototype.slice.call(document.querySelectorAll("#bulk-courses details.bulk-course"));
    input.addEventListener("input", function () {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      courses.forEach(function (d) {
        var text = d.getAttribute("data-search") || "";
        var match = words.every(function (w) { return text.indexOf(w) !== -1; });
        d.hidden = !match;
        if (match) { shown += 1; if (words.length) { d.open = true; } }
      });
      count.textContent = words.length ? shown + " of " + courses.length + " courses" : "";
    });
  });
})();

// Bulk change job: when the poll brings the finished job, move focus to its status and say how it ended.
document.addEventListener("htmx:oobAfterSwap", function (event) {
  "use strict";
  var el = event.detail && event.detail.target;
  if (!el || el.id !== "bulk-job") { return; }
  var job = document.getElementById("bulk-job");
  var heading = job && job.querySelector("#bulk-status-h");
  var announcer = document.getElementById("announcer");
  if (heading) {
    heading.focus({preventScroll: true});
    if (announcer) { announcer.textContent = heading.textContent.trim(); }
  }
});
