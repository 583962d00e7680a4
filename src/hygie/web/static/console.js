// Live alert queue: the server says (server-sent events) when the caller's alerts change, and
// the rows are fetched again with the page's own filters. No inline script (strict CSP).
(function () {
  var rows = document.getElementById("rows");
  if (!rows || !window.EventSource) { return; }
  var live = document.getElementById("live");
  var source = new EventSource("/api/v1/alerts/stream");
  source.addEventListener("open", function () { if (live) { live.textContent = live.dataset.on; } });
  source.addEventListener("error", function () { if (live) { live.textContent = live.dataset.off; } });
  source.addEventListener("alerts", function () {
    var checked = Array.prototype.some.call(rows.querySelectorAll("input[type=checkbox]"), function (b) { return b.checked; });
    if (checked) { return; }  // never redraw under an analyst's selection
    htmx.ajax("GET", "/alerts/rows" + window.location.search, { target: "#rows", swap: "innerHTML" });
  });
})();
