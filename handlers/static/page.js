// Links between tinbao's pages replace the page instead of adding to the
// browser's history, so that after Thoát nhanh the Back button does not show
// a page that says what this site is (the privacy notice, the chat opened
// again from it). On the notice page the red button leaves as on the chat.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("a[data-replace]") : null;
    if (!a) { return; }
    e.preventDefault();
    location.replace(a.href);
  });
  var exit = document.getElementById("exit");
  if (exit && document.body.classList.contains("page")) {
    exit.addEventListener("click", function () {
      try { navigator.sendBeacon("/chat/exit"); } catch (err) { /* leave anyway */ }
      location.replace(document.body.getAttribute("data-exit-url"));
    });
  }
})();
