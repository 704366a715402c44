// The live monitor's polling: tell the server which row versions this page holds (so it answers only what
// changed), keep open timelines open, pause/resume, and skip polls while the tab is hidden. No inline script.
(function () {
  "use strict";
  var PAUSE_KEY = "proctordash.monitor.paused";
  var lastOk = null;
  var lastFailed = false;

  function pollElement() { return document.querySelector("[data-monitor-poll]"); }
  function isPaused() { try { return sessionStorage.getItem(PAUSE_KEY) === "1"; } catch (e) { return false; } }
  function setPaused(value) { try { sessionStorage.setItem(PAUSE_KEY, value ? "1" : "0"); } catch (e) { /* private mode */ } }

  function versions() {
    var parts = [];
    document.querySelectorAll("#monitor-freshness[data-v], #monitor-summary[data-v], #monitor-live [data-v]").forEach(function (el) {
      parts.push(el.id + ":" + el.getAttribute("data-v"));
    });
    return parts.join(",");
  }
  function openIds() {
    var ids = [];
    document.querySelectorAll("#monitor-live [data-open]").forEach(function (el) { ids.push(el.getAttribute("data-open")); });
    return ids.join(",");
  }

  function renderState() {
    var state = document.getElementById("monitor-poll-state");
    var button = document.querySelector("[data-monitor-pause]");
    var poll = pollElement();
    if (!state || !button || !poll) { return; }
    var seconds = poll.getAttribute("data-poll-seconds");
    button.setAttribute("aria-pressed", isPaused() ? "true" : "false");
    button.textContent = isPaused() ? "Resume updates" : "Pause updates";
    var text;
    if (isPaused()) {
      text = "Paused: this page is not updating.";
    } else if (lastFailed) {
      text = "The last update failed; retrying every " + seconds + " s.";
    } else {
      text = "Updates every " + seconds + " s.";
      if (lastOk) {
        var ago = Math.round((Date.now() - lastOk) / 1000);
        text += ago < 5 ? " Checked just now." : " Checked " + ago + " s ago.";
      }
    }
    if (state.textContent !== text) { state.textContent = text; }
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.hasAttribute) { return; }
    if (elt.hasAttribute("data-monitor-poll")) {
      event.detail.parameters["have"] = versions();
      event.detail.parameters["open"] = openIds();
    } else if (elt.hasAttribute("data-monitor-filters")) {
      event.detail.parameters["open"] = openIds();
    }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-monitor-poll") && (isPaused() || document.hidden)) {
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-monitor-poll")) { return; }
    lastFailed = !event.detail.successful;
    if (event.detail.successful) { lastOk = Date.now(); }
    renderState();
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-monitor-pause]");
    if (!button) { return; }
    setPaused(!isPaused());
    renderState();
    if (!isPaused() && window.htmx && pollElement()) { window.htmx.trigger(pollElement(), "monitor-poll-now"); }
  });

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !isPaused() && window.htmx && pollElement()) {
      window.htmx.trigger(pollElement(), "monitor-poll-now");
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (!pollElement()) { return; }
    lastOk = Date.now();
    renderState();
    window.setInterval(renderState, 5000);
  });
})();
