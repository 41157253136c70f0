/* The live delivery counts on a notice's staff page: polls the admin API
   with the session cookie (same origin; the CSP allows nothing else) while
   the notice is still going out, and reloads the page when its state
   changes, so that everything else on it is rendered by the server again. */
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box || box.getAttribute("data-live") !== "1") {
    return;
  }
  var url = box.getAttribute("data-url");
  var shown = box.getAttribute("data-status");
  var keys = ["recipients", "sent", "pending", "failed", "blocked", "skipped"];
  var every = 3000;

  function show(notice) {
    keys.forEach(function (key) {
      var cell = document.getElementById("count-" + key);
      if (cell) {
        cell.textContent = String(notice[key]);
      }
    });
    var bar = document.getElementById("delivery");
    if (bar) {
      bar.max = Math.max(notice.recipients, 1);
      bar.value = notice.recipients - notice.pending;
      bar.textContent = bar.value + " / " + notice.recipients;
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          return null; // signed out or gone: stop asking
        }
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (notice) {
        if (!notice) {
          return;
        }
        show(notice);
        if (notice.status !== shown || !notice.in_progress) {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, every);
      })
      .catch(function () {
        window.setTimeout(poll, every * 5);
      });
  }

  window.setTimeout(poll, every);
})();
