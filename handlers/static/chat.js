// The web chat page: sends what the person types or presses to /chat/send,
// shows the replies with their buttons, and collects messages that arrive
// later (the acknowledgement) from /chat/inbox. No external assets, no
// storage in the browser: the conversation lives on the server, tied to a
// session cookie that ends with the browser session.
//
// At the photo question a button picks photos (JPEG, PNG) that go up to
// /chat/photo, in line with the messages.
//
// Nothing typed is lost: messages typed while another is on its way wait in
// a queue and go in order, each showing "đang gửi…" until it is through;
// a lost connection keeps them and tries again (with the same ID, so the
// server never takes one twice). A message typed while another was on its
// way is marked queued: the person had not seen the next question yet, so
// the server adds it to the answer before.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var form = document.getElementById("form");
  var text = document.getElementById("text");
  var hint = document.getElementById("hint"); // a text too long says so here
  var photo = document.getElementById("photo");
  var maxPhoto = 10 * 1024 * 1024; // the server's limit, said before the upload
  var body = document.body;
  var lang = document.documentElement.lang || "vi";
  var say = function (name) { return body.getAttribute("data-" + name) || ""; };
  var queue = [], inflight = null, retryTimer = null, delay = 0;
  // greeted: an answer (the opening menu and privacy notice) is on the
  // page, so a session the server makes now need not say them again.
  var greeted = false;

  function newID() {
    var a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // Only the emergency numbers (a reply the server marks call) make their
  // phone numbers buttons a phone can call with one tap: in an ordinary
  // sentence ("…cho công an hoặc tổng đài 111…", a summary) a number stays
  // text, so that a mis-tap never places a call from a watched phone. Any
  // other number (group 2: "0905 111 222", read back from an answer) stays
  // text everywhere, so that its 111 does not become a button that calls
  // the hotline. Only the person's own reference code (opts.code: the
  // acknowledgement) stays on one line with a copy button: the example code
  // of a question (TB-7K3M-Q9XJ) is text, never something to copy and look up.
  var pattern = /(\+\d[\d .]{6,16}\d)|(\d[\d .]{5,}\d)|\b(11[1-5])\b|\b(TB-[0-9A-Z]{4}-[0-9A-Z]{4})\b/g;
  function fill(el, s, opts) {
    opts = opts || {};
    var last = 0, m;
    pattern.lastIndex = 0;
    while ((m = pattern.exec(s)) !== null) {
      el.appendChild(document.createTextNode(s.slice(last, m.index)));
      if (m[4] && opts.code) {
        el.appendChild(code(m[4]));
      } else if (m[2] || m[4] || !opts.call) {
        el.appendChild(document.createTextNode(m[0]));
      } else {
        var n = m[1] || m[3], a = document.createElement("a");
        a.className = "tel";
        a.href = "tel:" + n.replace(/[ .]/g, "");
        a.textContent = n;
        a.setAttribute("aria-label", say("call") + " " + n);
        el.appendChild(a);
      }
      last = m.index + m[0].length;
    }
    el.appendChild(document.createTextNode(s.slice(last)));
  }

  function code(ref) {
    var span = document.createElement("span");
    span.className = "code";
    var c = document.createElement("strong");
    c.textContent = ref;
    var b = document.createElement("button");
    b.type = "button";
    b.className = "copy";
    b.textContent = say("copy");
    b.addEventListener("click", function () {
      var done = function () { b.textContent = say("copied"); };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(ref).then(done, function () { select(c); });
      } else { select(c); }
    });
    span.appendChild(c);
    span.appendChild(b);
    return span;
  }

  function select(el) {
    var r = document.createRange();
    r.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(r);
  }

  function bubble(cls, s, opts) {
    var d = document.createElement("div");
    d.className = "msg " + cls;
    if (cls === "me") { d.textContent = s; } else { fill(d, s, opts); }
    log.appendChild(d);
    log.scrollTop = log.scrollHeight;
    return d;
  }

  function disableChoices() {
    var old = log.querySelectorAll(".choices button");
    for (var i = 0; i < old.length; i++) { old[i].disabled = true; }
  }

  function choicesOpen() { return !!log.querySelector(".choices button:not([disabled])"); }

  // asked is the last question shown with its buttons: a question of
  // several choices comes back after each tap with the picks marked ✓, and
  // is then updated where it stands instead of posted again below.
  var asked = null;

  // sameQuestion reports whether reply asks the question on screen again
  // with nothing but taps on its own buttons since.
  function sameQuestion(reply) {
    if (!asked || !reply.text || reply.text !== asked.text || !reply.choices || !reply.choices.length ||
        !asked.bubble.isConnected) { return false; }
    for (var n = asked.bubble.nextSibling; n; n = n.nextSibling) {
      if (n !== asked.row && !(n.classList && n.classList.contains("tap"))) { return false; }
    }
    return true;
  }

  function show(reply) {
    var choices = reply.choices && reply.choices.length;
    // A new message from us: the note about a text too long is about the
    // question before (the text stays in the box).
    if (reply.text) { hint.hidden = true; }
    if (sameQuestion(reply)) {
      var n = asked.bubble.nextSibling;
      while (n) { var next = n.nextSibling; n.remove(); n = next; }
    } else if (reply.text) {
      var b = bubble("bot", reply.text, { call: reply.call, code: reply.code });
      asked = choices ? { text: reply.text, bubble: b, row: null } : null;
    } else {
      asked = null;
    }
    if (!choices) { return; }
    disableChoices(); // only the newest question's buttons answer it
    var row = document.createElement("div");
    row.className = "choices";
    if (reply.attach) {
      // The photo question: pick photos from the phone; each goes up on
      // its own, in order with the messages.
      var p = document.createElement("button");
      p.type = "button";
      p.className = "photo";
      p.textContent = say("photo");
      p.addEventListener("click", function () { photo.click(); });
      row.appendChild(p);
    }
    reply.choices.forEach(function (c) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = c.label;
      // A pick already made is marked ✓ by the server; it also stands out.
      if (c.label.indexOf("✓ ") === 0) { b.className = "picked"; b.setAttribute("aria-pressed", "true"); }
      b.addEventListener("click", function () { send({ choice: c.id }, c.label); });
      row.appendChild(b);
    });
    log.appendChild(row);
    if (asked) { asked.row = row; }
    log.scrollTop = log.scrollHeight;
  }

  function exitNow() {
    log.textContent = "";
    queue = [];
    try { navigator.sendBeacon("/chat/exit"); } catch (e) { /* leave anyway */ }
    location.replace(body.getAttribute("data-exit-url"));
  }

  // After /xoa the page empties and waits: nothing on screen says what
  // this site is until the person writes again.
  function wipe() {
    log.textContent = "";
    queue = [];
    fetch("/chat/exit", { method: "POST", credentials: "same-origin" }).finally(function () {
      location.replace("/chat?start=none&lang=" + encodeURIComponent(lang));
    });
  }

  function status(item, s) {
    if (!item.el) { return; }
    var st = item.el.querySelector(".status");
    if (!s) { if (st) { st.remove(); } return; }
    if (!st) {
      st = document.createElement("span");
      st.className = "status";
      item.el.appendChild(st);
    }
    st.textContent = s;
  }

  // send shows the message at once and queues it.
  function send(msg, shown) {
    msg.id = newID();
    msg.lang = lang;
    // Typed before the reply to the message still on its way was shown.
    msg.queued = !!(msg.text && (inflight || queue.length));
    var item = { msg: msg, el: shown ? bubble("me", shown) : null, tries: 0 };
    // A tap's bubble may give way to its question updated in place.
    if (item.el && msg.choice) { item.el.classList.add("tap"); }
    // A press answers the question: its buttons are spent. Typed words may
    // only add to an answer (a burst), so the buttons on screen stay.
    if (msg.choice) { disableChoices(); }
    status(item, say("sending"));
    queue.push(item);
    pump();
  }

  // request is how an item goes up: a message as JSON, a photo as itself.
  function request(item) {
    if (item.file) {
      return fetch("/chat/photo?lang=" + encodeURIComponent(lang), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": item.file.type || "application/octet-stream", "X-Tinbao": "1", "X-Tinbao-ID": item.msg.id },
        body: item.file
      });
    }
    return fetch("/chat/send", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Tinbao": "1" },
      body: JSON.stringify(item.msg)
    });
  }

  // sendPhoto queues a photo like a message; one over the limit is
  // refused at once, without spending the person's data on it.
  function sendPhoto(file) {
    if (file.size > maxPhoto) {
      bubble("sys", say("photo-too-big"));
      return;
    }
    var item = { msg: { id: newID() }, file: file, el: bubble("me", say("photo-sent")), tries: 0 };
    status(item, say("sending"));
    queue.push(item);
    pump();
  }

  function pump() {
    if (inflight || !queue.length) { return; }
    var item = inflight = queue.shift();
    item.tries++;
    item.msg.greeted = greeted;
    request(item).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { status: r.status, data: data }; });
    }).then(function (res) {
      var data = res.data;
      if (res.status === 429) {
        // Too many new conversations from this network: the server says so
        // calmly, once; the message waits and goes again a minute later.
        if (!item.limited && data.replies) { data.replies.forEach(function (r) { bubble("sys", r.text); }); }
        item.limited = true;
        var e = new Error("retry");
        e.wait = 60000;
        throw e;
      }
      if (res.status >= 500) { throw new Error("retry"); }
      inflight = null;
      delay = 0;
      status(item, "");
      if (res.status >= 400) {
        bubble("sys", data.message || say("offline"));
        pump();
        return;
      }
      if (data.wipe) { wipe(); return; }
      if (data.lang && data.lang !== lang) {
        // The page itself (the quick exit button first) follows the
        // conversation's language; the pending question is asked again.
        location.replace("/chat?start=again&lang=" + encodeURIComponent(data.lang));
        return;
      }
      var replies = data.replies || [];
      replies.forEach(show);
      if (replies.length) { greeted = true; }
      if (!replies.length && item.tries > 1 && !queue.length) {
        // Taken the first time, its answer lost on the way: ask again.
        send({ choice: "m:again" });
      }
      setTimeout(collect, 700);
      pump();
    }).catch(function (err) {
      // Not through: keep it first in line and try again, a little later
      // each time, and at once when the phone is back online.
      inflight = null;
      status(item, say("retrying"));
      queue.unshift(item);
      delay = Math.max(Math.min(delay ? delay * 2 : 1500, 15000), (err && err.wait) || 0);
      clearTimeout(retryTimer);
      retryTimer = setTimeout(pump, delay);
    });
  }
  window.addEventListener("online", function () { clearTimeout(retryTimer); delay = 0; pump(); });

  // shown counts the inbox messages of the last answer that are on the
  // page; the next poll tells the server, which only then forgets them.
  var shown = 0, collecting = false;
  function collect() {
    if (collecting) { return; }
    collecting = true;
    fetch("/chat/inbox?shown=" + shown + "&lang=" + encodeURIComponent(lang), { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) { return; }
      var msgs = data.messages || [];
      // What waits in the inbox is the acknowledgement: its code is the
      // person's own, to copy.
      msgs.forEach(function (m) { show({ text: m, code: true }); });
      shown = msgs.length;
      // An acknowledgement is no dead end: the menu, unless buttons wait.
      if (msgs.length && data.menu && data.menu.length && !choicesOpen() && !inflight && !queue.length) {
        show({ choices: data.menu });
      }
    }).catch(function () { /* the same messages come again next time */ }).finally(function () {
      collecting = false;
    });
  }

  // A message longer than the server takes stays in the box, with a note
  // that says so: nothing typed or pasted is cut or thrown away. Counted
  // as the server counts, in characters of the composed (NFC) form.
  var maxText = parseInt(say("max-text"), 10) || 0;
  function length(s) { return Array.from(s.normalize("NFC")).length; }
  function tooLong(s) { return maxText > 0 && length(s) > maxText; }
  // The note says how far over the text is, and follows the typing.
  function note() {
    var n = length(text.value.trim());
    var fmt = function (x) { return x.toLocaleString(lang === "en" ? "en" : "vi-VN"); };
    hint.textContent = say("too-long") + " (" + fmt(n) + "/" + fmt(maxText) + ")";
    hint.hidden = false;
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var s = text.value.trim();
    if (!s) { return; }
    if (tooLong(s)) {
      note();
      text.focus();
      return;
    }
    hint.hidden = true;
    text.value = "";
    send({ text: s }, s);
  });
  text.addEventListener("input", function () {
    if (hint.hidden) { return; }
    if (tooLong(text.value.trim())) { note(); } else { hint.hidden = true; }
  });
  text.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  photo.addEventListener("change", function () {
    Array.prototype.forEach.call(photo.files, sendPhoto);
    photo.value = "";
  });
  document.getElementById("exit").addEventListener("click", exitNow);
  setInterval(collect, 4000);
  // A reload (or a phone reopening the tab) asks the pending question
  // again rather than starting over; with nothing pending, the menu.
  if (body.getAttribute("data-start") === "again") { send({ choice: "m:again" }); }
})();
