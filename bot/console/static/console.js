// The console's only script: live refresh, and seeking the player from the transcript/timeline.
"use strict";
(function () {
  function refresh(table) {
    var url = table.getAttribute("data-refresh");
    var every = parseInt(table.getAttribute("data-every"), 10) || 3000;
    var body = table.querySelector("tbody");
    var status = document.getElementById("live-status");
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) {
          if (r.redirected || r.status === 401) { window.location.reload(); return null; }
          if (!r.ok) { throw new Error(String(r.status)); }
          return r.text();
        })
        .then(function (html) {
          if (html !== null) { body.innerHTML = html; if (status) { status.textContent = ""; } }
        })
        .catch(function () { if (status) { status.textContent = "Refresh failed; retrying."; } })
        .finally(function () { window.setTimeout(tick, every); });
    }
    window.setTimeout(tick, every);
  }

  function seek(t) {
    var player = document.getElementById("player");
    if (!player || isNaN(t)) { return; }
    player.currentTime = t;
    var played = player.play();
    if (played && played.catch) { played.catch(function () {}); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table[data-refresh]").forEach(refresh);
    document.addEventListener("click", function (e) {
      var el = e.target.closest ? e.target.closest("[data-t]") : null;
      if (el) { seek(parseFloat(el.getAttribute("data-t"))); }
    });
    document.addEventListener("keydown", function (e) {
      var el = e.target;
      if ((e.key === "Enter" || e.key === " ") && el.getAttribute && el.getAttribute("data-t") !== null
          && el.tagName.toLowerCase() !== "button") {
        e.preventDefault();
        seek(parseFloat(el.getAttribute("data-t")));
      }
    });
  });
})();
