// Live queue: when a report comes in, is taken or moves on, the table is
// refreshed in place (no reload, filters kept); a new report is marked, and
// a new urgent one raises a red banner and the tab's title.
(function () {
  "use strict";
  // On a phone the filters fold away unless one is set, so the first
  // reports are on the first screen.
  var filters = document.querySelector("details.filterbox");
  if (filters && !filters.hasAttribute("data-active") && window.matchMedia("(max-width: 40rem)").matches) {
    filters.open = false;
  }
  if (!window.EventSource) { return; }
  var table = document.querySelector(".table-wrap, .empty-queue");
  var banner = document.getElementById("live");
  var title = document.title;
  function codes(root) {
    return Array.prototype.map.call(root.querySelectorAll("a.code"), function (a) { return a.textContent; });
  }
  // What was in the table when the page opened: every report since is
  // marked new, however many refreshes come after it (two events close
  // together used to unmark it). Refreshes run one at a time, in order.
  var opened = table ? codes(table) : [];
  var running = null;
  function refresh(kind) {
    running = (running || Promise.resolve()).then(function () { return load(kind); });
  }
  function load(kind) {
    return fetch(location.href, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.querySelector(".table-wrap, .empty-queue");
      var count = doc.querySelector("h1");
      if (!fresh || !table) { return; }
      table.replaceWith(fresh);
      table = fresh;
      if (count) { document.querySelector("h1").replaceWith(count); }
      var alarms = doc.getElementById("alarms"), shown = document.getElementById("alarms");
      if (alarms && shown) { shown.replaceWith(alarms); }
      if (kind === "alarm" && alarms && !alarms.hidden) { document.title = "(!) " + title; }
      fresh.querySelectorAll("tbody tr").forEach(function (tr) {
        var a = tr.querySelector("a.code");
        if (a && opened.indexOf(a.textContent) < 0) { tr.classList.add("fresh"); }
      });
      // An urgent banner stays urgent when a plain new report follows.
      if (kind === "urgent" || (kind === "new" && !banner.classList.contains("urgent"))) {
        banner.textContent = banner.getAttribute(kind === "urgent" ? "data-urgent" : "data-new");
        banner.className = "live " + kind;
        banner.hidden = false;
        if (kind === "urgent") { document.title = "(!) " + title; }
      }
    }).catch(function () { /* the next event tries again */ });
  }
  var es = new EventSource("/queue/events");
  ["new", "urgent", "change", "alarm"].forEach(function (kind) {
    es.addEventListener(kind, function () { refresh(kind); });
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { document.title = title; } });
})();
