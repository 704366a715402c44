// Appointment list behaviour, no inline scripts: drop empty filters from the URL htmx pushes, keep each field's
// aria-invalid in step with its error (errors arrive out of band with the results), quick date ranges.
(function () {
  "use strict";

  // A filter URL carries only the filters in use, so it reads well when shared (a plain GET sends every field).
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt || event.detail.elt.id !== "filters") { return; }
    var params = event.detail.parameters;
    Object.keys(params).forEach(function (name) {
      if (params[name] === "") { delete params[name]; }
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
  document.addEventListener("htmx:afterSettle", syncInvalid);

  // Quick ranges: fill both date fields and apply (the links still work as plain links without JavaScript).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-range-after]");
    var form = document.getElementById("filters");
    if (!link || !form || !window.htmx) { return; }
    event.preventDefault();
    form.elements.appointmentAfter.value = link.getAttribute("data-range-after");
    form.elements.appointmentBefore.value = link.getAttribute("data-range-before");
    form.requestSubmit();
  });
})();
