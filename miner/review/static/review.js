// miner review: small comforts on top of plain forms (every action works without this file).
(function () {
  "use strict";

  // Textareas grow to fit their text, so a whole turn can be read without scrolling a box.
  function fit(t) {
    t.style.height = "auto";
    t.style.height = (t.scrollHeight + 4) + "px";
  }

  var dirty = new Set();

  document.querySelectorAll(".turn-form").forEach(function (form) {
    var t = form.querySelector("textarea");
    var button = form.querySelector(".save-turn");
    if (!t) return;
    var initial = t.value;
    fit(t);
    if (button && !t.readOnly) button.disabled = true;
    t.addEventListener("input", function () {
      fit(t);
      var changed = t.value !== initial;
      t.classList.toggle("changed", changed);
      if (button && !t.readOnly) button.disabled = !changed;
      if (changed) dirty.add(t); else dirty.delete(t);
    });
    t.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        if (t.value !== initial) { dirty.delete(t); form.submit(); }
      }
    });
    form.addEventListener("submit", function () { dirty.delete(t); });
  });

  // Leaving the page with an unsaved turn would lose the typing: ask first.
  window.addEventListener("beforeunload", function (e) {
    if (dirty.size) { e.preventDefault(); e.returnValue = ""; }
  });
  document.querySelectorAll("form:not(.turn-form)").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (dirty.size && !window.confirm("A turn has changes you have not saved. Discard them?")) {
        e.preventDefault();
      } else {
        dirty.clear();
      }
    });
  });

  // j / k move through the list from an example page (not while typing).
  document.addEventListener("keydown", function (e) {
    var tag = (e.target && e.target.tagName) || "";
    if (tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT" || e.ctrlKey || e.metaKey || e.altKey) return;
    var link = null;
    if (e.key === "j") link = document.getElementById("next");
    if (e.key === "k") link = document.getElementById("prev");
    if (link) { e.preventDefault(); link.click(); }
  });

  // Changing a filter on the list applies it at once.
  var filters = document.getElementById("filters");
  if (filters) {
    filters.querySelectorAll("select").forEach(function (s) {
      s.addEventListener("change", function () { filters.submit(); });
    });
  }

  // Statistics are recomputed in the background after each change: say when they are ready.
  var state = document.getElementById("stats-state");
  if (state && state.dataset.pending) {
    var statusUrl = "/api/status";
    var timer = window.setInterval(function () {
      fetch(statusUrl, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s || s.computing) return;
          window.clearInterval(timer);
          if (state.dataset.reload) {
            state.textContent = "Statistics are ready; reloading…";
            window.location.reload();
          } else {
            state.textContent = "Statistics and warnings are ready. ";
            var a = document.createElement("a");
            a.href = window.location.pathname + window.location.search;
            a.textContent = "Reload to see them";
            state.appendChild(a);
          }
        })
        .catch(function () { window.clearInterval(timer); });
    }, 2000);
  }
})();

// Histogram bars: widths come as data (the page's security policy allows no inline styles).
document.querySelectorAll(".bar[data-width]").forEach(function (b) {
  b.style.width = b.getAttribute("data-width") + "%";
});
