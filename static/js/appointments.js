// Appointment list behaviour, no inline scripts (everything hangs on data-* hooks; without JavaScript the form is
// a plain GET form and every link a plain link):
// - a filter URL carries only the filters in use; each field's aria-invalid follows its error slot;
// - links that apply a filter (status chips, date tabs, quick ranges, chart bars: data-apply) fill the form from
//   their URL and apply it, so the form always shows what the results show;
// - a select applies when the choice is made: at once with the mouse, but while arrow keys move through it only
//   after a short pause, on Enter or when it loses focus (not one request per arrow key);
// - the exam and offering pickers narrow to the chosen course; the exam picker with more than 30 choices becomes a
//   find-as-you-type box (a native <input list> combobox over the same choices);
// - after a swap that a click, a choice or Enter caused, focus moves to the results summary and the view scrolls to
//   the top of the results (typing in a text box keeps its focus; the count is announced either way);
// - the "per status and per day" box remembers whether it was folded.
(function () {
  "use strict";

  var KEY_PAUSE_MS = 700;
  var form = function () { return document.getElementById("filters"); };

  function apply() {
    var f = form();
    if (!f) { return; }
    if (window.htmx) { window.htmx.trigger(f, "apply"); } else { f.requestSubmit(); }
  }

  // A filter URL carries only the filters in use, so it reads well when shared (a plain GET sends every field).
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt || event.detail.elt.id !== "filters") { return; }
    if (document.querySelector("#filters .error-slot:not(:empty)")) {  // the answer must clear them
      event.detail.headers["X-Filter-Errors-Shown"] = "1";
    }
    var params = event.detail.parameters;
    var get = function (name) { return typeof params.get === "function" ? params.get(name) : params[name]; };
    if (get("appointmentAfter") || get("appointmentBefore")) {  // a typed range replaces the date tab
      if (typeof params.delete === "function") { params.delete("when"); } else { delete params.when; }
    }
    var keys = typeof params.keys === "function" ? Array.from(params.keys()) : Object.keys(params);
    keys.forEach(function (name) {
      var value = typeof params.get === "function" ? params.get(name) : params[name];
      if (value === "") {
        if (typeof params.delete === "function") { params.delete(name); } else { delete params[name]; }
      }
    });
  });

  function syncInvalid() {
    document.querySelectorAll("#filters [data-error-for]").forEach(function (slot) {
      var input = document.getElementById(slot.getAttribute("data-error-for"));
      if (!input) { return; }
      if (slot.textContent.trim()) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", slot.id);
      } else {
        input.removeAttribute("aria-invalid");
      }
    });
  }

  // --- links that apply a filter: set the form from the link's query string, then apply -------------------------
  function setField(f, name, value) {
    var field = f.elements.namedItem(name);
    if (!field) {
      if (!value) { return; }
      field = document.createElement("input");
      field.type = "hidden";
      field.name = name;
      (document.getElementById("results") || f).appendChild(field);
    }
    if (field instanceof RadioNodeList) { field = field[0]; }
    if (field.tagName === "SELECT" && value && !Array.prototype.some.call(field.options, function (o) { return o.value === value; })) {
      var option = document.createElement("option");
      option.value = value;
      option.textContent = value;
      field.appendChild(option);
    }
    field.value = value;
    if (field.tagName === "SELECT") { narrowAll(); syncFinder(field); }
  }

  function applyLink(link) {
    var f = form();
    var params = new URL(link.getAttribute("href"), window.location.href).searchParams;
    Array.prototype.forEach.call(f.elements, function (el) {
      if (!el.name || el.type === "submit" || el.type === "button" || el.name === "page") { return; }
      el.value = "";
    });
    params.forEach(function (value, name) { if (name !== "page") { setField(f, name, value); } });
    narrowAll();
    document.querySelectorAll("select[data-findable]").forEach(syncFinder);
    apply();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-apply]");
    if (!link || !form() || !window.htmx || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    event.preventDefault();
    applyLink(link);
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-focus-range]");
    if (!link) { return; }
    var input = document.getElementById(link.getAttribute("href").slice(1));
    if (input) { event.preventDefault(); input.focus(); }
  });

  // --- selects: apply on a choice, not on every arrow key ------------------------------------------------------
  var pending = null;
  var lastKey = 0;
  document.addEventListener("keydown", function (event) {
    var el = event.target;
    if (!el.closest || !el.closest("#filters") || el.tagName !== "SELECT") { return; }
    if (event.key === "Enter" && pending) {
      event.preventDefault();
      clearTimeout(pending);
      pending = null;
      apply();
      return;
    }
    lastKey = Date.now();
  }, true);
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!el.closest || !el.closest("#filters") || !el.classList.contains("js-change")) { return; }
    if (el.name === "courseSid") { narrowAll(); }
    if (el.tagName === "SELECT" && Date.now() - lastKey < 150) {  // moved with the keyboard: wait for a pause
      clearTimeout(pending);
      pending = setTimeout(function () { pending = null; apply(); }, KEY_PAUSE_MS);
      return;
    }
    clearTimeout(pending);
    pending = null;
    apply();
  });
  document.addEventListener("focusout", function (event) {
    if (pending && event.target.tagName === "SELECT" && event.target.closest("#filters")) {
      clearTimeout(pending);
      pending = null;
      apply();
    }
  });

  // --- pickers that narrow to the chosen course ----------------------------------------------------------------
  var originals = new WeakMap();  // select → its full list of child nodes (optgroups and options), as rendered

  function narrow(select) {
    var by = select.form && select.form.elements.namedItem(select.getAttribute("data-narrow-by"));
    if (!by) { return; }
    if (!originals.has(select)) { originals.set(select, Array.prototype.slice.call(select.children)); }
    var course = by.value;
    var value = select.value;
    var keep = originals.get(select).filter(function (node) {
      return node.tagName !== "OPTGROUP" || !course || node.getAttribute("data-course") === course;
    });
    var kept = keep.some(function (node) {
      return node.tagName === "OPTGROUP" ? Array.prototype.some.call(node.children, function (o) { return o.value === value; })
        : node.value === value;
    });
    select.replaceChildren.apply(select, keep);
    select.value = kept ? value : "";
    syncFinder(select);
  }

  function narrowAll() { document.querySelectorAll("#filters select[data-narrow-by]").forEach(narrow); }

  // --- the exam finder: <input list> over the (narrowed) exam choices -------------------------------------------
  function finderOf(select) { return document.getElementById(select.id + "-find"); }

  function syncFinder(select) {
    var input = finderOf(select);
    if (!input) { return; }
    var list = document.getElementById(input.getAttribute("list"));
    var options = [];
    Array.prototype.forEach.call(select.options, function (o) {
      if (!o.value) { return; }
      var item = document.createElement("option");
      item.value = o.textContent;
      options.push(item);
    });
    list.replaceChildren.apply(list, options);
    var chosen = select.selectedOptions[0];
    input.value = chosen && chosen.value ? chosen.textContent : "";
  }

  function makeFinder(select) {
    var limit = parseInt(select.getAttribute("data-findable"), 10);
    if (finderOf(select) || select.querySelectorAll("option").length <= limit) { return; }
    var input = document.createElement("input");
    input.type = "search";
    input.id = select.id + "-find";
    input.className = "finder";
    input.autocomplete = "off";
    input.placeholder = "All exams: type to find";
    input.setAttribute("list", select.id + "-choices");
    var list = document.createElement("datalist");
    list.id = select.id + "-choices";
    var label = document.querySelector('label[for="' + select.id + '"]');
    if (label) { label.htmlFor = input.id; }
    input.setAttribute("aria-describedby", select.id + "-find-help");
    var help = document.createElement("span");
    help.id = select.id + "-find-help";
    help.className = "visually-hidden";
    help.textContent = "Type part of an exam or course title, then choose; empty for all exams.";
    select.hidden = true;
    select.after(input, list, help);
    syncFinder(select);
    function choose() {
      var text = input.value.trim();
      var match = text ? Array.prototype.find.call(select.options, function (o) { return o.value && o.textContent === text; }) : null;
      if (!text && select.value) { select.value = ""; apply(); }
      else if (match && match.value !== select.value) { select.value = match.value; apply(); }
    }
    // a choice from the list (or text typed up to a whole choice, or an emptied box) applies at once
    input.addEventListener("input", choose);
    input.addEventListener("change", choose);
    input.addEventListener("keydown", function (event) { if (event.key === "Enter") { event.preventDefault(); choose(); } });
  }

  // --- the folded or open overview -------------------------------------------------------------------------------
  function restoreOverview() {
    document.querySelectorAll("details[data-remember]").forEach(function (box) {
      var key = "proctordash:" + box.getAttribute("data-remember");
      try {
        if (window.localStorage.getItem(key) === "closed") { box.open = false; }
      } catch (e) { /* storage off: stays open */ }
      if (box.dataset.bound) { return; }
      box.dataset.bound = "1";
      box.addEventListener("toggle", function () {
        try { window.localStorage.setItem(key, box.open ? "open" : "closed"); } catch (e) { /* ignore */ }
      });
    });
  }

  // --- after a swap: focus the summary, scroll to the results ----------------------------------------------------
  var moveFocus = false;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "results") { return; }
    var trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    moveFocus = !(trigger && trigger.type === "input");
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    syncInvalid();
    restoreOverview();
    var results = document.getElementById("results");
    if (!results || !(event.detail.target === results || event.detail.target.id === "results")) { return; }
    if (moveFocus) {
      var summary = document.getElementById("result-count");
      if (summary) { summary.focus({preventScroll: true}); }
      if (results.getBoundingClientRect().top < 0) { results.scrollIntoView({block: "start"}); }
    }
    moveFocus = false;
  });

  function init() {
    narrowAll();
    document.querySelectorAll("#filters select[data-findable]").forEach(makeFinder);
    restoreOverview();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
  document.addEventListener("htmx:historyRestore", init);
})();
