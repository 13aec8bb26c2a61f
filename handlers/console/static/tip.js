// The reply box: canned replies fill it, and for a report that came by SMS
// a counter says how the text will travel (without marks, as tinbao sends
// SMS by default: GSM-7, 160 characters a segment, 153 per part when split).
(function () {
  "use strict";
  var box = document.getElementById("body");
  if (!box) { return; }
  var canned = document.getElementById("canned");
  if (canned) {
    canned.addEventListener("change", function () {
      if (canned.value) { box.value = canned.value; box.dispatchEvent(new Event("input")); box.focus(); }
    });
  }
  var counter = document.getElementById("sms-count");
  if (!counter) { return; }
  var basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var ext = "^{}\\[~]|€\f";
  function strip(s) {
    return s.replace(/[“”«»]/g, '"').replace(/[‘’]/g, "'").replace(/•/g, "-").replace(/…/g, "...").replace(/[–—]/g, "-")
      .normalize("NFD").replace(/[\u0300-\u036f]/g, "").normalize("NFC").replace(/đ/g, "d").replace(/Đ/g, "D");
  }
  function count() {
    var s = strip(box.value), septets = 0, gsm = true;
    for (var i = 0; i < s.length; i++) {
      var ch = s.charAt(i);
      if (basic.indexOf(ch) >= 0) { septets++; } else if (ext.indexOf(ch) >= 0) { septets += 2; } else { gsm = false; break; }
    }
    var n = gsm ? septets : s.length, single = gsm ? 160 : 70, per = gsm ? 153 : 67;
    var parts = n <= single ? 1 : Math.ceil(n / per);
    counter.textContent = (gsm ? "GSM-7" : "UCS-2") + " · " + n + " · " + parts + " " + counter.getAttribute("data-parts");
    counter.className = parts > 1 ? "warn" : "note";
  }
  box.addEventListener("input", count);
  count();
})();
