// Live log view: follows the page's SSE stream (data-live) into #log, with
// pause and resume, clear, and a substring filter. The server renders and
// escapes every line; this only moves its HTML into the page, through a
// <template> so nothing in it runs (the CSP forbids inline script anyway).
(function () {
  "use strict";
  var view = document.getElementById("log");
  var tools = document.querySelector("[data-log-tools]");
  if (!view || !tools || !view.dataset.live || !window.EventSource) {
    return;
  }
  // Lines kept on screen, and lines held while paused: bounds on the page's
  // memory under a log storm.
  var maxLines = 5000;
  var maxHeld = 20000;

  var pauseButton = tools.querySelector("[data-log-pause]");
  var clearButton = tools.querySelector("[data-log-clear]");
  var filter = tools.querySelector("[data-log-filter]");
  var state = tools.querySelector("[data-log-state]");
  var paused = false;
  var held = []; // fragments received while paused, oldest first
  var heldLines = 0;
  var dropped = 0; // held lines let go because the pause went on too long
  var connection = "connecting…";
  tools.hidden = false;

  function parse(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.content;
  }

  function needle() {
    return filter.value.toLowerCase();
  }

  function show(line, q) {
    if (!line.classList.contains("skipped")) {
      line.hidden = q !== "" && line.textContent.toLowerCase().indexOf(q) < 0;
    }
  }

  function marker(text) {
    var div = document.createElement("div");
    div.className = "ln skipped";
    div.textContent = text;
    return div;
  }

  function atBottom() {
    return view.scrollHeight - view.scrollTop - view.clientHeight < 24;
  }

  function append(frag) {
    var follow = atBottom();
    var q = needle();
    for (var el = frag.firstElementChild; el; el = el.nextElementSibling) {
      show(el, q);
    }
    view.appendChild(frag);
    for (var extra = view.childElementCount - maxLines; extra > 0; extra--) {
      view.firstElementChild.remove();
    }
    if (follow) {
      view.scrollTop = view.scrollHeight;
    }
  }

  function status() {
    var text = connection;
    if (paused) {
      text = "paused: " + heldLines + (heldLines === 1 ? " new line held" : " new lines held");
    }
    state.textContent = text;
  }

  function hold(kind, html) {
    var frag = parse(html);
    var n = frag.childElementCount;
    if (kind === "reset") {
      held = [];
      heldLines = 0;
    }
    held.push({ kind: kind, frag: frag, n: n });
    heldLines += n;
    while (heldLines > maxHeld && held.length > 1) {
      var old = held.shift();
      heldLines -= old.n;
      dropped += old.n;
    }
    status();
  }

  function receive(kind, html) {
    if (paused) {
      hold(kind, html);
      return;
    }
    if (kind === "reset") {
      view.replaceChildren();
    }
    append(parse(html));
  }

  function resume() {
    paused = false;
    pauseButton.textContent = "Pause";
    pauseButton.setAttribute("aria-pressed", "false");
    if (dropped > 0) {
      append(marker("… " + dropped + " lines were let go while paused …"));
    }
    held.forEach(function (h) {
      if (h.kind === "reset") {
        view.replaceChildren();
      }
      append(h.frag);
    });
    held = [];
    heldLines = 0;
    dropped = 0;
    status();
  }

  pauseButton.addEventListener("click", function () {
    if (paused) {
      resume();
      return;
    }
    paused = true;
    pauseButton.textContent = "Resume";
    pauseButton.setAttribute("aria-pressed", "true");
    status();
  });

  clearButton.addEventListener("click", function () {
    view.replaceChildren();
    held = [];
    heldLines = 0;
    dropped = 0;
    status();
  });

  filter.addEventListener("input", function () {
    var q = needle();
    for (var el = view.firstElementChild; el; el = el.nextElementSibling) {
      show(el, q);
    }
  });

  var source = new EventSource(view.dataset.live);
  source.addEventListener("open", function () {
    connection = "live";
    status();
  });
  source.addEventListener("error", function () {
    // The browser retries on its own unless the server refused the stream
    // (a lost session, say).
    connection = source.readyState === EventSource.CLOSED ? "stopped: reload the page" : "reconnecting…";
    status();
  });
  source.addEventListener("reset", function (ev) {
    receive("reset", ev.data);
  });
  source.addEventListener("lines", function (ev) {
    receive("lines", ev.data);
  });
  view.scrollTop = view.scrollHeight;
})();
