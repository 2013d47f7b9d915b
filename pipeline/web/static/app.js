// newswatch reading room: keyboard navigation (j/k next/previous, o or Enter open, / search) and
// live updates of the story list. Pages work without it; it adds no content of its own.
(function () {
  "use strict";
  var selected = -1;

  function items() { return Array.prototype.slice.call(document.querySelectorAll(".item")); }

  function select(index) {
    var all = items();
    if (!all.length) { return; }
    index = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (el) { el.classList.remove("selected"); });
    all[index].classList.add("selected");
    all[index].scrollIntoView({ block: "nearest" });
    selected = index;
  }

  function open() {
    var all = items();
    if (selected < 0 || selected >= all.length) { return; }
    var link = all[selected].querySelector("a.item-link");
    if (link) { window.location.assign(link.getAttribute("href")); }
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  // Marks: a button posts its form in the background (the page stays where it is); without this
  // script the same forms post and come back. Every post gets a new one-time request id.
  function newId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function toast(text) {
    var note = document.createElement("div");
    note.className = "toast";
    note.setAttribute("role", "status");
    note.textContent = text;
    document.body.appendChild(note);
    window.setTimeout(function () { note.remove(); }, 2500);
  }

  function mark(form, button) {
    var data = new URLSearchParams(new FormData(form));
    if (button && button.name) { data.set(button.name, button.value); }
    data.set("request_id", newId());
    return fetch(form.action, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      if (!res.ok) { toast(res.body.error || "not recorded"); return; }
      toast(res.body.effect);
      var chosen = button ? button.value : null;
      form.querySelectorAll("button[name=value]").forEach(function (b) {
        b.classList.toggle("on", chosen !== "undo" && b.value === chosen);
      });
    }).catch(function () { toast("not recorded: the server did not answer"); });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("mark") || form.classList.contains("merge")
        || form.querySelector("input[name=kind][value=split]")) { return; }
    event.preventDefault();
    mark(form, event.submitter || null);
  });

  function markKey(key) {
    var all = items();
    var scope = selected >= 0 && all[selected] ? all[selected] : document;
    var form = scope.querySelector("form.mark[data-primary]") || scope.querySelector("form.mark");
    var button = form && form.querySelector("button[data-key=" + key + "]");
    if (button) { mark(form, button); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (typing(event.target)) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    if (event.key === "j") { select(selected + 1); event.preventDefault(); }
    else if (event.key === "k") { select(selected < 0 ? 0 : selected - 1); event.preventDefault(); }
    else if (event.key === "o" || event.key === "Enter") { if (selected >= 0) { open(); event.preventDefault(); } }
    else if (event.key === "y" || event.key === "n") { markKey(event.key); event.preventDefault(); }
    else if (event.key === "/") {
      var box = document.getElementById("search-box");
      if (box) { box.focus(); box.select(); event.preventDefault(); }
    }
  });

  // Live updates: poll what is new; when reports arrived, fetch this page again and swap its list.
  var body = document.body;
  var live = body.getAttribute("data-live");
  if (!live || !window.fetch) { return; }
  var latest = parseInt(body.getAttribute("data-latest") || "0", 10);
  var every = Math.max(2, parseInt(body.getAttribute("data-refresh") || "15", 10)) * 1000;

  function refresh(newCount) {
    return fetch(window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("stories");
        var here = document.getElementById("stories");
        if (!fresh || !here) { return; }
        var keep = selected >= 0 && items()[selected] ? items()[selected].getAttribute("data-story") : null;
        here.replaceWith(document.importNode(fresh, true));
        var note = document.getElementById("live");
        if (note) {
          note.textContent = newCount + " new report" + (newCount === 1 ? "" : "s") + " since this page opened";
          note.hidden = false;
        }
        if (keep) {
          var all = items();
          for (var i = 0; i < all.length; i++) {
            if (all[i].getAttribute("data-story") === keep) { select(i); break; }
          }
        }
      });
  }

  var seen = 0;
  function poll() {
    fetch(live + "?after=" + latest, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && data.latest_id > latest) {
          seen += data.new_articles;
          latest = data.latest_id;
          return refresh(seen);
        }
      })
      .catch(function () { /* the server is restarting or busy: the next poll tries again */ })
      .then(function () { window.setTimeout(poll, every); });
  }
  window.setTimeout(poll, every);
})();
