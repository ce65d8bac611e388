// graphreport: table filter and sort, diagram-to-table linking. No network access, no external code.
(function () {
  "use strict";
  function rowsOf(table) { return Array.prototype.slice.call(table.tBodies[0].rows); }

  // A big graph's node table (data-virtual) is drawn here from the embedded report data, at most DRAW rows
  // at a time (the matches of the filter, in the current sort order), instead of holding every row in the HTML.
  var VT = (function () {
    var table = document.getElementById("nodes");
    if (!table || !table.hasAttribute("data-virtual")) { return null; }
    var all;
    try { all = JSON.parse(document.getElementById("report-data").textContent); } catch (e) { return null; }
    var DRAW = 500;
    var byName = {};
    all.nodes.forEach(function (n, i) { byName[n.name] = i; });
    function shape(s) { return s === null || s === undefined ? "?" : "[" + s.map(function (d) { return d === null ? "?" : d; }).join(", ") + "]"; }
    function num(v) { return v === null || v === undefined ? "" : v.toLocaleString("en-US"); }
    function attrs(a) {
      var out = [];
      Object.keys(a || {}).forEach(function (k) {
        if (k.charAt(0) === "_") { return; }
        var t = JSON.stringify(a[k]);
        out.push(k + "=" + (t.length <= 120 ? t : t.slice(0, 117) + "..."));
      });
      return out.join(", ");
    }
    var rows = [];
    all.nodes.forEach(function (n, i) {
      if (n["const"]) { return; }
      var ins = [], ws = [];
      (n.inputs || []).forEach(function (t) {
        if (t.charAt(0) === "^") { return; }
        var j = byName[t];
        if (j !== undefined && all.nodes[j]["const"]) {
          var o = all.nodes[j].outputs[0];
          ws.push(t + " " + shape(o ? o.shape : null));
        } else { ins.push(t); }
      });
      var outs = (n.outputs || []).map(function (o) { return (o.dtype || "?") + " " + shape(o.shape); });
      var unknown = n.cost_unknown !== undefined;
      var cells = [String(i), n.name, n.op, ins.join(", "), ws.join(", "), outs.join("; "), n.macs ? num(n.macs) : "",
                   unknown ? "?" : (n.flops ? num(n.flops) : ""), n.tflite || "", attrs(n.attrs)];
      rows.push({id: "n" + i, name: n.name, cells: cells, v: [i, null, null, null, null, null, n.macs || 0, n.flops || 0],
                 search: (n.name + " " + n.op + " " + outs.join(" ")).toLowerCase()});
    });
    var shown = rows;
    var count = document.getElementById("node-count");
    function draw(list, what) {
      shown = list;
      var body = table.tBodies[0];
      var frag = document.createDocumentFragment();
      list.slice(0, DRAW).forEach(function (r) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-id", r.id);
        tr.setAttribute("data-name", r.name);
        r.cells.forEach(function (c, k) {
          var td = document.createElement("td");
          td.textContent = c;
          td.className = (k === 0 || k === 6 || k === 7) ? "num" : (k === 9 ? "attrs mono" : "mono");
          tr.appendChild(td);
        });
        frag.appendChild(tr);
      });
      body.textContent = "";
      body.appendChild(frag);
      if (count) {
        count.textContent = list.length.toLocaleString("en-US") + " shown" + (what ? ": " + what : "") +
          (list.length > DRAW ? " (the first " + DRAW + " drawn; filter to narrow)" : "");
      }
    }
    function filter(q) {
      q = q.trim().toLowerCase();
      draw(q ? rows.filter(function (r) { return r.search.indexOf(q) !== -1; }) : rows);
    }
    function sort(idx, numeric, dir) {
      rows.sort(function (a, b) {
        var x = a.v[idx] !== null && a.v[idx] !== undefined ? a.v[idx] : a.cells[idx];
        var y = b.v[idx] !== null && b.v[idx] !== undefined ? b.v[idx] : b.cells[idx];
        var r = numeric ? (x || 0) - (y || 0) : String(x).localeCompare(String(y));
        return dir === "asc" ? r : -r;
      });
      filter(document.getElementById("node-filter").value);
    }
    function only(ids, what) { draw(rows.filter(function (r) { return ids.has(r.id); }), "the ops of " + what + " (clear the filter to see all)"); }
    function find(id) { for (var k = 0; k < rows.length; k++) { if (rows[k].id === id) { return rows[k]; } } return null; }
    return {filter: filter, sort: sort, only: only, find: find};
  })();

  document.querySelectorAll("input.filter").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    var count = document.getElementById(input.getAttribute("data-count"));
    if (VT && table && table.id === "nodes") {
      input.addEventListener("input", function () { VT.filter(input.value); });
      VT.filter(input.value);
      return;
    }
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
      if (VT && table.id === "nodes") { VT.sort(idx, numeric, dir); return; }
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

  // the node table shows one node (click on an op box) or the nodes of a scope (click on a scope box)
  var nodeCount = document.getElementById("node-count");
  function showNode(id) {
    var row = VT ? VT.find(id) : document.querySelector('#nodes tr[data-id="' + id + '"]');
    var input = document.getElementById("node-filter");
    if (row && input) {
      input.value = VT ? row.name : row.getAttribute("data-name");
      input.dispatchEvent(new Event("input"));
      document.getElementById("node-table").scrollIntoView();
    }
  }
  function showNodes(ids, what) {
    var table = document.getElementById("nodes");
    var input = document.getElementById("node-filter");
    if (!table || !input) { return; }
    input.value = "";
    if (VT) { VT.only(ids, what); document.getElementById("node-table").scrollIntoView(); return; }
    var shown = 0;
    rowsOf(table).forEach(function (tr) {
      var hit = ids.has(tr.getAttribute("data-id"));
      tr.hidden = !hit;
      if (hit) { shown++; }
    });
    if (nodeCount) { nodeCount.textContent = shown + " shown: the ops of " + what + " (clear the filter to see all)"; }
    document.getElementById("node-table").scrollIntoView();
  }

  var dataEl = document.getElementById("report-data");
  var D = null;
  try {
    var all = JSON.parse(dataEl.textContent);
    D = all.diagram || null;
    if (D) {  // an op box's name and op are the report's node's
      D.items.forEach(function (it) { if (it[0] === 0) { var n = all.nodes[it[11]]; it[3] = n.name; it[4] = n.op; } });
    }
  } catch (e) { D = null; }
  var host = document.querySelector(".diagram");
  if (host && D) { diagram(D, host); }
  else if (host) {  // no page data: the static SVG, click to find the node
    host.querySelectorAll("g.node").forEach(function (g) {
      g.style.cursor = "pointer";
      g.addEventListener("click", function () { showNode(g.getAttribute("id")); });
    });
  }

  function diagram(D, host) {
    var SVGNS = "http://www.w3.org/2000/svg";
    var items = D.items, LAY = D.layouts;
    var KIND = 0, PARENT = 1, LABEL = 2, NAME = 3, OPT = 4, KIDS = 5, OPS = 6, STATUS = 9, LAYOUT = 10, LEAF = 11, NOTE = 12;
    var OP = 0, SERIES = 2;
    var STATUS_COLORS = ["#1a7f37", "#bf8700", "#cf222e", "#8c959f"];
    var HEAD = 22, PAD = 10;
    var open = {};
    D.expanded.forEach(function (k) { open[k] = true; });
    var canCompose = items[D.root][LAYOUT] >= 0;  // the page can draw the scopes itself
    var composed = canCompose && (!D["static"] || !host.querySelector("svg"));
    if (!composed && !host.querySelector("svg")) { return; }
    var svg = null, view = {x: 0, y: 0, s: 1}, size = {w: 1, h: 1}, pos = {}, dragged = false;
    var hits = {}, within = {}, matches = [], cur = -1;

    var bar = document.createElement("div");
    bar.className = "dtools";
    function button(text, title, fn) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = text; b.title = title;
      b.addEventListener("click", fn);
      bar.appendChild(b);
      return b;
    }
    button("+", "zoom in", function () { zoom(1.25); });
    button("\u2212", "zoom out", function () { zoom(0.8); });
    button("fit", "fit the diagram to the frame", fit);
    var overview = button("overview", "close the boxes: back to the overview", function () {
      open = {}; D.overview.forEach(function (k) { open[k] = true; }); composed = true; render(); host.style.height = ""; fit();
    });
    var total = items[D.root][OPS];
    var all = button("expand all", total > 3000 ? "too many ops to open all at once: open boxes one by one" : "open every box", function () {
      items.forEach(function (it, k) { if (it[KIND] > 0 && it[LAYOUT] >= 0) { open[k] = true; } });
      composed = true; render(); fit();
    });
    all.disabled = total > 3000 || !canCompose;
    overview.disabled = !canCompose;
    var find = document.createElement("input");
    find.type = "search"; find.className = "dfind"; find.placeholder = "find a node or op in the diagram (Enter: next)";
    bar.appendChild(find);
    button("\u2039", "previous match", function () { step(-1); });
    button("\u203a", "next match", function () { step(1); });
    var count = document.createElement("span");
    count.className = "note dcount";
    bar.appendChild(count);
    var legend = document.createElement("span");
    legend.className = "note legend";
    [["TFLite builtin", 0], ["Flex", 1], ["unsupported", 2]].forEach(function (x) {
      var sw = document.createElement("i");
      sw.style.background = STATUS_COLORS[x[1]];
      legend.appendChild(sw);
      legend.appendChild(document.createTextNode(x[0] + " "));
    });
    bar.appendChild(legend);
    host.parentNode.insertBefore(bar, host);

    function el(tag, attrs, parent) {
      var e = document.createElementNS(SVGNS, tag);
      for (var a in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, a)) { e.setAttribute(a, attrs[a]); } }
      if (parent) { parent.appendChild(e); }
      return e;
    }
    function isOpen(k) { return open[k] && items[k][KIND] > 0 && items[k][LAYOUT] >= 0; }

    // geometry of a box's inside with its open children: the dot layout, stretched around each open child
    function geom(k) {
      var it = items[k], lay = LAY[it[LAYOUT]], kids = it[KIDS];
      var g = {w: lay.w, h: lay.h, subs: {}};
      g.n = lay.n.map(function (b) { return {x: b[0], y: b[1], w: b[2], h: b[3]}; });
      g.s = lay.s.map(function (p) { return {x: p[0], y: p[1], w: 0, h: 0}; });
      g.e = lay.e.map(function (e) { return e[2].slice(); });
      // an edge label keeps its offset from the middle point of its edge
      var mids = lay.e.map(function (e) { return 2 * Math.floor((e[2].length / 2) / 2); });
      var offs = lay.e.map(function (e, i) { return e.length > 3 ? [e[4] - e[2][mids[i]], e[5] - e[2][mids[i] + 1]] : null; });
      var heads = lay.t;
      for (var j = 0; j < kids.length; j++) {
        if (!isOpen(kids[j])) { continue; }
        var sub = geom(kids[j]), n = g.n[j];
        if (!(n.w > 0 && n.h > 0)) { continue; }
        var nw = Math.max(sub.w + 2 * PAD, n.w, textWidth(heads[j].split("\n").join(" \u00b7 ")) + 34);
        var nh = Math.max(sub.h + HEAD + PAD, n.h);
        var ax = n.x - n.w / 2, bx = n.x + n.w / 2, ay = n.y - n.h / 2, by = n.y + n.h / 2;
        var dx = nw - n.w, dy = nh - n.h, sx = nw / n.w, sy = nh / n.h;
        var fx = function (x) { return x <= ax ? x : (x >= bx ? x + dx : ax + (x - ax) * sx); };
        var fy = function (y) { return y <= ay ? y : (y >= by ? y + dy : ay + (y - ay) * sy); };
        var moved = g.n.concat(g.s).map(function (m) { return [m.x, m.y]; });
        g.n.concat(g.s).forEach(function (m, i) { if (i !== j) { m.x = fx(m.x); m.y = fy(m.y); } });
        n.x = ax + nw / 2; n.y = ay + nh / 2; n.w = nw; n.h = nh;
        var all = g.n.concat(g.s);
        lay.e.forEach(function (e, i) {
          var p = g.e[i], last = p.length - 2;
          var t = e[0] >= 0 ? e[0] : g.n.length - 1 - e[0], h = e[1] >= 0 ? e[1] : g.n.length - 1 - e[1];
          for (var q = 0; q <= last; q += 2) {
            // the ends of an edge move with the box they touch (the open box itself: stretched)
            var end = q <= 2 ? t : (q >= last - 2 ? h : -1);
            if (end >= 0 && end !== j) {
              p[q] += all[end].x - moved[end][0]; p[q + 1] += all[end].y - moved[end][1];
            } else { p[q] = fx(p[q]); p[q + 1] = fy(p[q + 1]); }
          }
        });
        g.w += dx; g.h += dy;
        g.subs[j] = sub;
      }
      g.l = offs.map(function (o, i) { return o ? [g.e[i][mids[i]] + o[0], g.e[i][mids[i] + 1] + o[1]] : null; });
      return g;
    }

    var measure = null;
    function textWidth(s) {
      if (!measure) { measure = document.createElement("canvas").getContext("2d"); measure.font = "600 9px Helvetica, Arial, 'Liberation Sans', sans-serif"; }
      return measure ? measure.measureText(s).width : s.length * 5.5;
    }

    function text(parent, x, y, lines, cls) {
      var t = el("text", {x: x, y: y - (lines.length - 1) * 5.5 + 3, "text-anchor": "middle", "class": cls || ""}, parent);
      lines.forEach(function (line, i) {
        var s = el("tspan", {x: x, dy: i ? 11 : 0}, t);
        s.textContent = line;
        if (i === 0 && lines.length > 1) { s.setAttribute("class", "l1"); }
      });
      return t;
    }

    function drawInside(k, g, ox, oy, layer) {
      var it = items[k], lay = LAY[it[LAYOUT]], kids = it[KIDS];
      lay.e.forEach(function (e, i) {
        var p = g.e[i];
        var d = "M" + (p[0] + ox).toFixed(1) + "," + (p[1] + oy).toFixed(1);
        for (var q = 2; q + 5 < p.length + 0; q += 6) {
          d += "C" + [p[q] + ox, p[q + 1] + oy, p[q + 2] + ox, p[q + 3] + oy, p[q + 4] + ox, p[q + 5] + oy].map(function (v) { return v.toFixed(1); }).join(",");
        }
        el("path", {d: d, "class": "edge", "marker-end": e[1] >= 0 || true ? "url(#dg-arrow)" : ""}, layer.edges);
        if (g.l[i]) {
          var t = el("text", {x: (g.l[i][0] + ox).toFixed(1), y: (g.l[i][1] + oy + 2).toFixed(1), "class": "elabel", "text-anchor": "middle"}, layer.labels);
          t.textContent = e[3];
        }
      });
      g.s.forEach(function (s) { el("circle", {cx: s.x + ox, cy: s.y + oy, r: 2.5, "class": "stub"}, layer.edges); });
      kids.forEach(function (c, j) {
        var n = g.n[j], x = n.x - n.w / 2 + ox, y = n.y - n.h / 2 + oy;
        var ci = items[c];
        pos[c] = {x: x, y: y, w: n.w, h: n.h};
        var box = el("g", {"class": "node" + (ci[KIND] === OP ? "" : " scope") + (isOpen(c) ? " open" : ""), "data-k": c}, layer.boxes);
        if (ci[KIND] === OP) { box.setAttribute("id", "n" + ci[LEAF]); }
        var title = el("title", {}, box);
        title.textContent = ci[NAME] + (ci[OPT] ? " (" + ci[OPT] + ")" : "") + (ci[NOTE] ? "\n" + ci[NOTE] : "");
        if (isOpen(c)) {
          el("rect", {x: x, y: y, width: n.w, height: n.h, rx: 6, "class": "frame", fill: lay.f[j]}, box);
          el("rect", {x: x, y: y, width: 4, height: n.h, "class": "status", fill: STATUS_COLORS[ci[STATUS]]}, box);
          var head = el("text", {x: x + 10, y: y + 15, "class": "head"}, box);
          head.textContent = lay.t[j].split("\n").join(" \u00b7 ");
          badge(box, c, x + n.w - 16, y + 3, "\u2212");
          drawInside(c, g.subs[j], x + PAD, y + HEAD, layer);
        } else {
          if (ci[KIND] === SERIES) {
            el("rect", {x: x + 5, y: y + 5, width: n.w, height: n.h, rx: 5, "class": "shadow", fill: lay.f[j]}, box);
            el("rect", {x: x + 2.5, y: y + 2.5, width: n.w, height: n.h, rx: 5, "class": "shadow", fill: lay.f[j]}, box);
          }
          el("rect", {x: x, y: y, width: n.w, height: n.h, rx: ci[KIND] === OP ? 4 : 6, fill: lay.f[j], "class": "box"}, box);
          el("rect", {x: x, y: y + 2, width: 3.5, height: n.h - 4, "class": "status", fill: STATUS_COLORS[ci[STATUS]]}, box);
          text(box, x + n.w / 2, y + n.h / 2, lay.t[j].split("\n"));
          if (ci[KIND] > 0 && ci[LAYOUT] >= 0) { badge(box, c, x + n.w - 13, y - 6, "+"); }
        }
      });
    }

    function badge(parent, k, x, y, sign) {
      var b = el("g", {"class": "toggle", "data-k": k}, parent);
      el("rect", {x: x, y: y, width: 13, height: 13, rx: 3}, b);
      var t = el("text", {x: x + 6.5, y: y + 10.5, "text-anchor": "middle"}, b);
      t.textContent = sign;
      var tt = el("title", {}, b);
      tt.textContent = sign === "+" ? "open" : "close";
    }

    function render() {
      pos = {};
      var g = geom(D.root);
      var s = el("svg", {"class": "composed", width: "100%", height: "100%"});
      var defs = el("defs", {}, s);
      var m = el("marker", {id: "dg-arrow", viewBox: "0 0 10 10", refX: 0, refY: 5, markerWidth: 6, markerHeight: 6,
        markerUnits: "userSpaceOnUse", orient: "auto"}, defs);
      el("path", {d: "M0,0L10,5L0,10z", fill: "#777"}, m);
      var root = el("g", {}, s);
      var layer = {boxes: el("g", {}, root), edges: el("g", {}, root), labels: el("g", {}, root)};
      // boxes first (frames behind), edges and their labels on top
      drawInside(D.root, g, 8, 8, layer);
      size = {w: g.w + 16, h: g.h + 16};
      host.textContent = "";
      host.appendChild(s);
      svg = s;
      mark();
      applyView();
    }

    function useStatic() {
      svg = host.querySelector("svg");
      var vb = (svg.getAttribute("viewBox") || "0 0 100 100").split(/[ ,]+/).map(parseFloat);
      size = {w: vb[2], h: vb[3]};
      svg.removeAttribute("width"); svg.removeAttribute("height");
      svg.setAttribute("width", "100%"); svg.setAttribute("height", "100%");
      pos = {};
      items.forEach(function (it, k) { if (it[KIND] === OP) { pos[k] = null; } });
      // each op's TFLite status as the same strip as in the boxes (the fill is the op's family, as Graphviz drew it)
      svg.querySelectorAll("g.node").forEach(function (g) {
        var k = leafItem[g.getAttribute("id")], shape = g.querySelector("path, polygon");
        if (k === undefined || !shape || g.querySelector("rect.status")) { return; }
        var b = shape.getBBox();
        shape.parentNode.insertBefore(el("rect", {x: b.x, y: b.y + 2, width: 3.5, height: Math.max(b.height - 4, 1),
          "class": "status", fill: STATUS_COLORS[items[k][STATUS]]}), shape.nextSibling);
      });
      mark();
    }

    function applyView() {
      if (!svg) { return; }
      var cw = host.clientWidth || 800, ch = host.clientHeight || 600;
      svg.setAttribute("viewBox", [view.x, view.y, cw / view.s, ch / view.s].map(function (v) { return v.toFixed(2); }).join(" "));
    }
    function fit() {
      var cw = host.clientWidth || 800, ch = host.clientHeight || 600;
      view.s = Math.min(1.5, cw / size.w, ch / size.h);
      if (view.s < 0.35) { view.s = Math.min(1, Math.max(0.35, cw / size.w)); }
      view.x = (size.w - cw / view.s) / 2;
      view.y = Math.min(0, (size.h - ch / view.s) / 2);
      applyView();
    }
    function zoom(f, px, py) {
      var cw = host.clientWidth || 800, ch = host.clientHeight || 600;
      if (px === undefined) { px = cw / 2; py = ch / 2; }
      var wx = view.x + px / view.s, wy = view.y + py / view.s;
      view.s = Math.max(0.02, Math.min(8, view.s * f));
      view.x = wx - px / view.s; view.y = wy - py / view.s;
      applyView();
    }
    function centerOn(p) {
      var cw = host.clientWidth || 800, ch = host.clientHeight || 600;
      view.s = Math.max(view.s, Math.min(1, cw / (p.w + 80), ch / (p.h + 80)));
      view.x = p.x + p.w / 2 - cw / 2 / view.s;
      view.y = p.y + p.h / 2 - ch / 2 / view.s;
      applyView();
    }

    host.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var r = host.getBoundingClientRect();
      zoom(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - r.left, ev.clientY - r.top);
    }, {passive: false});
    var drag = null;
    host.addEventListener("pointerdown", function (ev) {
      if (ev.button !== 0) { return; }
      drag = {x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y, moved: false};
    });
    window.addEventListener("pointermove", function (ev) {
      if (!drag) { return; }
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 4) { drag.moved = true; host.classList.add("panning"); }
      if (drag.moved) { view.x = drag.vx - dx / view.s; view.y = drag.vy - dy / view.s; applyView(); }
    });
    window.addEventListener("pointerup", function () {
      if (drag) { dragged = drag.moved; drag = null; host.classList.remove("panning"); }
    });

    function leafIds(k, out) {
      var stack = [k];
      while (stack.length) {
        var x = stack.pop(), it = items[x];
        if (it[KIND] === OP) { out.add("n" + it[LEAF]); } else if (it[KIDS]) { stack.push.apply(stack, it[KIDS]); }
      }
      return out;
    }
    function toggle(k) {
      if (!canCompose) { return; }
      var before = pos[k];
      if (!composed) { composed = true; }
      if (open[k]) { delete open[k]; } else { open[k] = true; }
      render();
      host.style.height = "";
      var after = pos[k];
      if (before && after) { view.x += after.x - before.x; view.y += after.y - before.y; applyView(); }
    }
    host.addEventListener("click", function (ev) {
      if (dragged) { dragged = false; return; }
      var t = ev.target.closest ? ev.target.closest("g.toggle, g.node") : null;
      if (!t) { return; }
      if (t.classList.contains("toggle")) { toggle(+t.getAttribute("data-k")); return; }
      var k = t.getAttribute("data-k");
      if (k === null) { showNode(t.getAttribute("id")); return; }  // the static SVG
      k = +k;
      if (items[k][KIND] === OP) { showNode("n" + items[k][LEAF]); return; }
      if (ev.target.closest("text.head") || !t.classList.contains("open")) {
        // wait a moment: a double-click opens the box instead
        clearTimeout(pending);
        pending = setTimeout(function () { showNodes(leafIds(k, new Set()), items[k][LABEL]); }, 280);
      }
    });
    var pending = null;
    host.addEventListener("dblclick", function (ev) {
      var t = ev.target.closest ? ev.target.closest("g.node.scope") : null;
      if (t) { ev.preventDefault(); clearTimeout(pending); toggle(+t.getAttribute("data-k")); }
    });

    // search: highlight the boxes that match, and those that hold a match; Enter opens the way to the next one
    var lower = null;
    function haystack() {
      if (!lower) { lower = items.map(function (it) { return it[KIND] < 0 ? "" : (it[NAME] + " " + it[OPT] + " " + it[LABEL]).toLowerCase(); }); }
      return lower;
    }
    function mark() {
      if (!svg) { return; }
      svg.querySelectorAll(".hit, .within, .current").forEach(function (e) { e.classList.remove("hit", "within", "current"); });
      if (!matches.length) { return; }
      svg.querySelectorAll("g.node").forEach(function (g) {
        var k = g.getAttribute("data-k");
        if (k === null) { k = leafItem[g.getAttribute("id")]; } else { k = +k; }
        if (k === undefined) { return; }
        if (hits[k]) { g.classList.add("hit"); } else if (within[k] && !g.classList.contains("open")) { g.classList.add("within"); }
        if (k === matches[cur]) { g.classList.add("current"); }
      });
    }
    var leafItem = {};
    items.forEach(function (it, k) { if (it[KIND] === OP) { leafItem["n" + it[LEAF]] = k; } });
    var asked = "";
    function query() {
      asked = find.value;
      var q = find.value.trim().toLowerCase();
      hits = {}; within = {}; matches = []; cur = -1;
      if (q) {
        var h = haystack();
        for (var k = 0; k < h.length; k++) {
          if (h[k] && k !== D.root && h[k].indexOf(q) !== -1) {
            matches.push(k); hits[k] = true;
            if (matches.length <= 5000) { for (var p = items[k][PARENT]; p >= 0 && !within[p]; p = items[p][PARENT]) { within[p] = true; } }
          }
        }
      }
      count.textContent = q ? matches.length + (matches.length === 1 ? " match" : " matches") : "";
      mark();
    }
    function step(d) {
      if (!matches.length) { return; }
      cur = (cur + d + matches.length) % matches.length;
      var k = matches[cur], chain = [], p;
      for (p = items[k][PARENT]; p >= 0; p = items[p][PARENT]) { chain.push(p); }
      var changed = false;
      chain.forEach(function (a) { if (!open[a] && items[a][LAYOUT] >= 0) { open[a] = true; changed = true; } });
      if (canCompose && (changed || (!composed && !pos.hasOwnProperty(k)))) { composed = true; render(); host.style.height = ""; }
      mark();
      count.textContent = (cur + 1) + " of " + matches.length;
      var target = k;
      while (target >= 0 && !pos[target]) { target = items[target][PARENT]; }
      if (composed && target >= 0 && pos[target]) { centerOn(pos[target]); }
      else if (!composed) {
        var g = svg.querySelector("#n" + items[k][LEAF]);
        if (g) {
          var b = g.getBBox(), ctm = g.getCTM(), root = svg.getCTM();
          var m = root.inverse().multiply(ctm);
          centerOn({x: b.x * m.a + m.e, y: b.y * m.d + m.f, w: b.width * m.a, h: b.height * m.d});
        }
      }
    }
    var timer = null;
    find.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(query, 150); });
    find.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") {
        ev.preventDefault(); clearTimeout(timer);
        if (find.value !== asked) { query(); }
        step(ev.shiftKey ? -1 : 1);
      }
    });

    if (composed) { render(); } else { useStatic(); }
    // first view: as wide as the frame allows (at most natural size), from the top
    var cw0 = host.clientWidth || 800;
    view.s = Math.min(1, cw0 / size.w);
    if (view.s < 0.5) { view.s = Math.min(1, Math.max(0.5, Math.min(cw0 / size.w, (host.clientHeight || 600) / size.h))); }
    var natural = Math.max(160, size.h * view.s + 4);
    if (natural < host.clientHeight) { host.style.height = natural + "px"; }
    view.x = (size.w - cw0 / view.s) / 2;
    view.y = 0;
    applyView();
    window.addEventListener("resize", applyView);
  }

  document.querySelectorAll("button.copy").forEach(function (b) {
    b.addEventListener("click", function () {
      var pre = document.getElementById(b.getAttribute("data-for"));
      if (navigator.clipboard) { navigator.clipboard.writeText(pre.textContent); b.textContent = "copied"; }
    });
  });
})();
