// The live monitor's polling: tell the server which unit versions this page holds (so it answers only what
// changed), keep open timelines and expanded exams, pause/resume, skip polls while the tab is hidden, and stop — with
// a message and a link — when the session has ended or the user's access changed. No inline script.
(function () {
  "use strict";
  var PAUSE_KEY = "proctordash.monitor.paused";
  var lastOk = null;
  var lastFailed = false;
  var stopped = false; // signed out or access changed: no more polls on this page
  var generation = 0; // bumped when #monitor-live is replaced (filter change, expansion)
  var focusAfterSwap = null;

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
  function listOf(attribute) {
    var values = [];
    document.querySelectorAll("#monitor-live [" + attribute + "]").forEach(function (el) { values.push(el.getAttribute(attribute)); });
    return values.join(",");
  }

  function renderState() {
    var state = document.getElementById("monitor-poll-state");
    var button = document.querySelector("[data-monitor-pause]");
    if (!state || !button) { return; }
    var poll = pollElement();
    var seconds = poll ? poll.getAttribute("data-poll-seconds") : "";
    button.setAttribute("aria-pressed", isPaused() ? "true" : "false");
    button.textContent = isPaused() ? "Resume updates" : "Pause updates";
    button.disabled = stopped;
    var text;
    if (stopped) {
      text = "Updates stopped.";
    } else if (isPaused()) {
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
    // Not a live region: an age that ticks must never be read out (the poll's announcements go to #monitor-announce).
    if (state.textContent !== text) { state.textContent = text; }
  }

  // Updates stop for good on this page: the session ended (401) or the user's access changed (403). The server's
  // HX-Redirect names where to go (the login page with next = this page, or this page); a background poll does not
  // follow it by itself — the person may be reading — but says so in an alert with the link.
  function stop(kind, url) {
    if (stopped) { return; }
    stopped = true;
    var poll = pollElement();
    if (poll) { poll.remove(); } // htmx's "every" trigger ends with its element
    var alert = document.querySelector("[data-monitor-alert]");
    if (alert) {
      alert.textContent = "";
      var strong = document.createElement("strong");
      var link = document.createElement("a");
      var rest = document.createElement("span");
      link.href = url;
      if (kind === "signed-out") {
        strong.textContent = "Signed out";
        link.textContent = "sign in again";
        rest.textContent = ". Updates have stopped; the rows below are as they were at the last update.";
      } else {
        strong.textContent = "Your access has changed";
        link.textContent = "reload the page";
        rest.textContent = " to see what you can use now. Updates have stopped.";
      }
      alert.appendChild(strong);
      alert.appendChild(document.createTextNode(" — "));
      alert.appendChild(link);
      alert.appendChild(rest);
    }
    renderState();
  }

  function here() { return window.location.pathname + window.location.search; }

  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.hasAttribute) { return; }
    if (elt.hasAttribute("data-monitor-poll")) {
      event.detail.parameters["have"] = versions();
      event.detail.parameters["open"] = listOf("data-open");
      event.detail.parameters["expand"] = listOf("data-expanded");
      elt.setAttribute("data-generation", String(generation));
    } else if (elt.hasAttribute("data-monitor-filters")) {
      event.detail.parameters["open"] = listOf("data-open");
      event.detail.parameters["expand"] = listOf("data-expanded");
    } else if (elt.hasAttribute("data-monitor-expand")) {
      event.detail.parameters["open"] = listOf("data-open"); // the link's URL carries the rest
      focusAfterSwap = elt.id;
    }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-monitor-poll") && (stopped || isPaused() || document.hidden)) {
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-monitor-poll")) { return; }
    var xhr = event.detail.xhr;
    var redirect = xhr.getResponseHeader("HX-Redirect");
    if (xhr.status === 401 || (redirect && xhr.status !== 403)) {
      event.preventDefault();
      stop("signed-out", redirect || "/login/?next=" + encodeURIComponent(here()));
    } else if (xhr.status === 403) {
      event.preventDefault();
      stop("forbidden", redirect || here());
    } else if (elt.getAttribute("data-generation") !== String(generation)) {
      // The table was replaced while this poll was on its way: its answer describes rows that may be gone.
      event.preventDefault();
      window.setTimeout(function () { if (window.htmx && pollElement()) { window.htmx.trigger(pollElement(), "monitor-poll-now"); } }, 0);
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-monitor-poll") || stopped) { return; }
    lastFailed = !event.detail.successful;
    if (event.detail.successful) { lastOk = Date.now(); }
    renderState();
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || target.id !== "monitor-live") { return; }
    generation += 1;
    if (focusAfterSwap) {
      // Keep the keyboard where it was: on the exam's Show / Hide link (or its main link after "Show more").
      var id = focusAfterSwap;
      focusAfterSwap = null;
      var next = document.getElementById(id) || document.getElementById(id.replace(/-more$/, ""));
      if (next) { next.focus(); }
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-monitor-pause]");
    if (!button || stopped) { return; }
    setPaused(!isPaused());
    renderState();
    if (!isPaused() && window.htmx && pollElement()) { window.htmx.trigger(pollElement(), "monitor-poll-now"); }
  });

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !isPaused() && !stopped && window.htmx && pollElement()) {
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
