// graphreport diff: one filter for the node tables, and tabs between them. No network access, no external code.
(function () {
  "use strict";
  var input = document.getElementById("node-filter");
  var tables = Array.prototype.slice.call(document.querySelectorAll("table.nodes"));
  function apply() {
    var q = input.value.trim().toLowerCase();
    tables.forEach(function (table) {
      var shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (tr) {
        var hit = !q || (tr.getAttribute("data-search") || "").indexOf(q) !== -1;
        tr.hidden = !hit;
        if (hit) { shown++; }
      });
      var count = document.getElementById(table.id + "-count");
      if (count) { count.textContent = shown + " of " + table.tBodies[0].rows.length + " shown"; }
    });
  }
  if (input) {
    input.addEventListener("input", apply);
    apply();
  }
  document.querySelectorAll("input.scope-filter").forEach(function (box) {
    box.addEventListener("change", function () {
      var show = {};
      document.querySelectorAll("input.scope-filter").forEach(function (b) { show[b.value] = b.checked; });
      Array.prototype.forEach.call(document.getElementById("scope-table").tBodies[0].rows, function (tr) {
        tr.hidden = !show[tr.getAttribute("data-status")];
      });
    });
  });
})();
