// graphreport: table filter and sort, diagram-to-table linking. No network access, no external code.
(function () {
  "use strict";
  function rowsOf(table) { return Array.prototype.slice.call(table.tBodies[0].rows); }

  document.querySelectorAll("input.filter").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    var count = document.getElementById(input.getAttribute("data-count"));
    function apply() {
      var q = input.value.trim().toLowerCase();
      var shown = 0;
      rowsOf(table).forEach(function (tr) {
        var hit = !q || tr.getAttribute("data-search").indexOf(q) !== -1;
        tr.hidden = !hit;
        if (hit) { shown++; }
      });
      if (count) { count.textContent = shown + " shown"; }
    }
    input.addEventListener("input", apply);
    apply();
  });

  document.querySelectorAll("th.sortable").forEach(function (th) {
    th.addEventListener("click", function () {
      var table = th.closest("table");
      var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
      var numeric = th.classList.contains("num");
      var dir = th.getAttribute("data-dir") === "asc" ? "desc" : "asc";
      th.setAttribute("data-dir", dir);
      var rows = rowsOf(table);
      rows.sort(function (a, b) {
        var x = a.cells[idx].getAttribute("data-v") || a.cells[idx].textContent;
        var y = b.cells[idx].getAttribute("data-v") || b.cells[idx].textContent;
        var r = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
        return dir === "asc" ? r : -r;
      });
      var body = table.tBodies[0];
      rows.forEach(function (tr) { body.appendChild(tr); });
    });
  });

  // click a box in the diagram: filter the node table to that node
  document.querySelectorAll(".diagram g.node").forEach(function (g) {
    g.style.cursor = "pointer";
    g.addEventListener("click", function () {
      var id = g.getAttribute("id");
      var row = document.querySelector('#nodes tr[data-id="' + id + '"]');
      var input = document.getElementById("node-filter");
      if (row && input) {
        input.value = row.getAttribute("data-name");
        input.dispatchEvent(new Event("input"));
        document.getElementById("node-table").scrollIntoView();
      }
    });
  });

  document.querySelectorAll("button.copy").forEach(function (b) {
    b.addEventListener("click", function () {
      var pre = document.getElementById(b.getAttribute("data-for"));
      if (navigator.clipboard) { navigator.clipboard.writeText(pre.textContent); b.textContent = "copied"; }
    });
  });
})();
