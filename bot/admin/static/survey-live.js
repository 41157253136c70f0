/* Live results on an open survey's staff page: the page is drawn by the
   server (the charts are inline SVG), so staying current means loading it
   again — every `data-refresh` seconds, unless the officer is in the middle
   of a form (then a little later). Same origin only, as the CSP wants. */
(function () {
  "use strict";
  var box = document.getElementById("results");
  var seconds = box ? parseInt(box.getAttribute("data-refresh") || "", 10) : NaN;
  if (!(seconds > 0)) {
    return;
  }

  function busy() {
    var active = document.activeElement;
    return !!active && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(active.tagName);
  }

  function reload() {
    if (busy() || document.hidden) {
      window.setTimeout(reload, 5000);
      return;
    }
    window.location.reload();
  }

  window.setTimeout(reload, seconds * 1000);
})();
