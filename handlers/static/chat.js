// The web chat page: sends what the person types or presses to /chat/send,
// shows the replies with their buttons, and collects messages that arrive
// later (the acknowledgement) from /chat/inbox. No external assets, no
// storage in the browser: the conversation lives on the server, tied to a
// session cookie that ends with the browser session.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var form = document.getElementById("form");
  var text = document.getElementById("text");
  var body = document.body;
  var lang = document.documentElement.lang || "vi";
  var busy = false;

  function newID() {
    var a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // The emergency numbers become links a phone can call with one tap.
  function fill(el, s) {
    var re = /\b(113|111|115|114|112)\b/g, last = 0, m;
    while ((m = re.exec(s)) !== null) {
      el.appendChild(document.createTextNode(s.slice(last, m.index)));
      var a = document.createElement("a");
      a.href = "tel:" + m[1];
      a.textContent = m[1];
      el.appendChild(a);
      last = m.index + m[1].length;
    }
    el.appendChild(document.createTextNode(s.slice(last)));
  }

  function bubble(cls, s) {
    var d = document.createElement("div");
    d.className = "msg " + cls;
    if (cls === "me") { d.textContent = s; } else { fill(d, s); }
    log.appendChild(d);
    log.scrollTop = log.scrollHeight;
    return d;
  }

  function disableChoices() {
    var old = log.querySelectorAll(".choices button");
    for (var i = 0; i < old.length; i++) { old[i].disabled = true; }
  }

  function show(reply) {
    bubble("bot", reply.text);
    if (!reply.choices || !reply.choices.length) { return; }
    var row = document.createElement("div");
    row.className = "choices";
    reply.choices.forEach(function (c) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = c.label;
      b.addEventListener("click", function () { send({ choice: c.id }, c.label); });
      row.appendChild(b);
    });
    log.appendChild(row);
    log.scrollTop = log.scrollHeight;
  }

  function exitNow() {
    log.textContent = "";
    try { navigator.sendBeacon("/chat/exit"); } catch (e) { /* leave anyway */ }
    location.replace(body.getAttribute("data-exit-url"));
  }

  // After /xoa the page empties and waits: nothing on screen says what
  // this site is until the person writes again.
  function wipe() {
    log.textContent = "";
    fetch("/chat/exit", { method: "POST", credentials: "same-origin" }).finally(function () {
      location.replace("/chat?start=none&lang=" + encodeURIComponent(lang));
    });
  }

  function send(msg, shown) {
    if (busy) { return; }
    busy = true;
    disableChoices();
    if (shown) { bubble("me", shown); }
    msg.id = newID();
    msg.lang = lang;
    fetch("/chat/send", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Tinbao": "1" },
      body: JSON.stringify(msg)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { ok: r.ok, data: data }; });
    }).then(function (res) {
      var data = res.data;
      if (data.wipe) { wipe(); return; }
      if (data.lang && data.lang !== lang) {
        // The page itself (the quick exit button first) follows the
        // conversation's language; the pending question is asked again.
        location.replace("/chat?start=again&lang=" + encodeURIComponent(data.lang));
        return;
      }
      (data.replies || []).forEach(show);
      if (!res.ok && !(data.replies || []).length) { bubble("sys", body.getAttribute("data-offline")); }
    }).catch(function () {
      bubble("sys", body.getAttribute("data-offline"));
    }).finally(function () {
      busy = false;
      setTimeout(collect, 700);
    });
  }

  // shown counts the inbox messages of the last answer that are on the
  // page; the next poll tells the server, which only then forgets them.
  var shown = 0, collecting = false;
  function collect() {
    if (collecting) { return; }
    collecting = true;
    fetch("/chat/inbox?shown=" + shown, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) { return; }
      var msgs = data.messages || [];
      msgs.forEach(function (m) { show({ text: m }); });
      shown = msgs.length;
    }).catch(function () { /* the same messages come again next time */ }).finally(function () {
      collecting = false;
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var s = text.value.trim();
    if (!s) { return; }
    text.value = "";
    send({ text: s }, s);
  });
  text.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  document.getElementById("exit").addEventListener("click", exitNow);
  setInterval(collect, 4000);
  // A reload (or a phone reopening the tab) asks the pending question
  // again rather than starting over; with nothing pending, the menu.
  if (body.getAttribute("data-start") === "again") { send({ choice: "m:again" }); }
})();
