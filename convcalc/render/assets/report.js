// convcalc HTML report: draws the network graph from the walk's rows (embedded as JSON),
// lets blocks collapse and expand, shows a row's numbers on hover and sorts tables.
// Plain DOM and SVG, no library, nothing fetched.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var NW = 196, NH = 36;      // node box
  var VG = 30, HG = 22;       // gaps between stacked items (holds the shape label), columns
  var PAD = 10, LAB = 20;     // a block frame's padding and label band
  var LANE = 28;              // the empty column beside a residual body (identity shortcut)
  var CHARS = 31;             // characters of a node line before …

  function el(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function cut(s) { return s.length > CHARS ? s.slice(0, CHARS - 1) + "\u2026" : s; }
  function text(parent, x, y, cls, s) {
    var t = el("text", {x: x, y: y, "class": cls}, parent);
    t.textContent = s;
    return t;
  }

  var tip = null;
  function tooltip() {
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "tip";
      tip.setAttribute("role", "tooltip");
      document.body.appendChild(tip);
    }
    return tip;
  }
  function showTip(ev, lines) {
    var t = tooltip();
    t.textContent = "";
    lines.forEach(function (line, i) {
      var d = document.createElement("div");
      if (i === 0) d.className = "tip-head";
      d.textContent = line;
      t.appendChild(d);
    });
    t.style.display = "block";
    moveTip(ev);
  }
  function moveTip(ev) {
    var t = tooltip();
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + t.offsetWidth > window.innerWidth - 8) x = ev.clientX - t.offsetWidth - 14;
    if (y + t.offsetHeight > window.innerHeight - 8) y = ev.clientY - t.offsetHeight - 14;
    t.style.left = Math.max(4, x) + "px";
    t.style.top = Math.max(4, y) + "px";
  }
  function hideTip() { if (tip) tip.style.display = "none"; }

  // -- one graph -------------------------------------------------------------------------------
  // data: rows [path, line1, line2, output shape, MAC share|null, reads, group, tip lines],
  //       groups [path, what, parent, level, line2, MAC share|null, tip lines],
  //       input, output (shapes), out (row index of the network output, -1: the input),
  //       depth (blocks at this nesting level and deeper start collapsed), marks {row: kind}
  function Graph(host, data) {
    this.host = host;
    this.data = data;
    var groups = data.groups.map(function (g, i) {
      return {id: i, path: g[0], what: g[1], parent: g[2], level: g[3], line2: g[4],
              share: g[5], tip: g[6], children: [], attached: false, mark: null,
              kind: (g[1] === "residual" || g[1] === "parallel") ? g[1] : "block"};
    });
    var top = {children: []};
    function attach(g) {
      if (g.attached) return;
      g.attached = true;
      if (g.parent >= 0) attach(groups[g.parent]);
      (g.parent >= 0 ? groups[g.parent] : top).children.push({group: g});
    }
    data.rows.forEach(function (r, i) {
      for (var gi = r[6]; gi >= 0; gi = groups[gi].parent) {
        if (groups[gi].first === undefined) groups[gi].first = i;
        groups[gi].last = i;
      }
      if (r[6] >= 0) {
        attach(groups[r[6]]);
        groups[r[6]].children.push({row: i});
      } else {
        top.children.push({row: i});
      }
    });
    // the enclosing groups of each group, outermost first
    this.chains = groups.map(function (g) {
      var chain = [];
      for (var h = g; h; h = h.parent >= 0 ? groups[h.parent] : null) chain.unshift(h.id);
      return chain;
    });
    var marks = data.marks || {};
    Object.keys(marks).forEach(function (i) {
      for (var gi = data.rows[i][6]; gi >= 0; gi = groups[gi].parent) groups[gi].mark = "changed";
    });
    this.marks = marks;
    this.groups = groups;
    this.top = top;
    this.reset();
  }

  Graph.prototype.reset = function () {
    var depth = this.data.depth;
    this.collapsed = this.groups.map(function (g) { return g.level >= depth && !g.mark; });
  };
  Graph.prototype.setAll = function (value) {
    this.collapsed = this.groups.map(function () { return value; });
  };

  // the drawn node standing for row i: its outermost collapsed block, else the row itself
  Graph.prototype.rep = function (i) {
    var gi = this.data.rows[i][6];
    if (gi >= 0) {
      var chain = this.chains[gi];
      for (var k = 0; k < chain.length; k++) if (this.collapsed[chain[k]]) return "g" + chain[k];
    }
    return "r" + i;
  };

  Graph.prototype.layout = function () {
    var self = this, data = this.data, nodes = [], frames = [];
    function leaf(key, kind, idx) {
      var h = kind === "io" ? 26 : NH;
      return {w: NW, h: h, draw: function (x, y) {
        nodes.push({key: key, kind: kind, idx: idx, x: x, y: y, w: NW, h: h});
      }};
    }
    // an item's last row (its output) and the rows it reads from outside itself
    function span(item) {
      if (item.row !== undefined) return [item.row, item.row];
      if (item.group) return [item.group.first, item.group.last];
      return null;
    }
    function readsOf(item) {
      var s = span(item), out = [];
      if (!s) return out;
      for (var i = s[0]; i <= s[1]; i++) {
        data.rows[i][5].forEach(function (src) { if (src < s[0]) out.push(src); });
      }
      return out;
    }
    function seq(items) {
      // a side branch — items that start from a saved tensor (`from:`) instead of the item
      // before them, until a merge that reads both — is drawn beside that item, the merge
      // below the two (U-Net: the crop of enc4 beside the up-conv, then the concat)
      var ls = [];
      for (var i = 0; i < items.length; i++) {
        var prev = i > 0 ? span(items[i - 1]) : null;
        if (prev && ls.length && readsOf(items[i]).indexOf(prev[1]) < 0) {
          for (var j = i + 1; j < items.length; j++) {
            var m = items[j], end = span(items[j - 1]);
            if (m.row === undefined || !end) break;
            var r = data.rows[m.row][5];
            if (r.indexOf(prev[1]) >= 0 && r.indexOf(end[1]) >= 0) break;
            if (readsOf(m).indexOf(prev[1]) >= 0) { j = items.length; break; }
          }
          if (j < items.length) {
            var left = ls.pop();
            ls.push(below(beside([left, seq(items.slice(i, j))]), lay(items[j])));
            i = j;
            continue;
          }
        }
        ls.push(lay(items[i]));
      }
      var w = 0, h = 0;
      ls.forEach(function (l, i) { w = Math.max(w, l.w); h += l.h + (i ? VG : 0); });
      return {w: w, h: h, draw: function (x, y) {
        ls.forEach(function (l) { l.draw(x + (w - l.w) / 2, y); y += l.h + VG; });
      }};
    }
    function columns(cols) {
      return beside(cols.map(function (c) {
        return c === null ? {w: LANE, h: 0, draw: function () {}} : seq(c);
      }));
    }
    function beside(ls) {
      var w = 0, h = 0;
      ls.forEach(function (l, i) { w += l.w + (i ? HG : 0); h = Math.max(h, l.h); });
      return {w: w, h: h, draw: function (x, y) {
        ls.forEach(function (l) { l.draw(x, y); x += l.w + HG; });
      }};
    }
    function below(a, b) {
      if (!b.h) return a;
      var w = Math.max(a.w, b.w);
      return {w: w, h: a.h + VG + b.h, draw: function (x, y) {
        a.draw(x + (w - a.w) / 2, y);
        b.draw(x + (w - b.w) / 2, y + a.h + VG);
      }};
    }
    function role(g, item) {
      var p = item.group ? item.group.path : data.rows[item.row][0];
      return p.slice(g.path.length + 1).split(".")[0];
    }
    function lay(item) {
      if (item.row !== undefined) return leaf("r" + item.row, "row", item.row);
      if (item.io) return leaf(item.io, "io", -1);
      var g = item.group;
      if (self.collapsed[g.id]) return leaf("g" + g.id, "group", g.id);
      var inner;
      if (g.kind === "residual") {
        var body = [], short = [], rest = [];
        g.children.forEach(function (c) {
          var r = role(g, c);
          (r === "body" ? body : r === "shortcut" ? short : rest).push(c);
        });
        inner = below(columns([body, short.length ? short : null]), seq(rest));
      } else if (g.kind === "parallel") {
        var branches = [], byRole = {}, after = [];
        g.children.forEach(function (c) {
          var r = role(g, c);
          if (/^\d+$/.test(r)) {
            if (!byRole[r]) { byRole[r] = []; branches.push(byRole[r]); }
            byRole[r].push(c);
          } else {
            after.push(c);
          }
        });
        // an empty branch (the identity) gets an empty column for its edge
        var merge = after.length && after[after.length - 1].row !== undefined ?
          data.rows[after[after.length - 1].row][5].length : 0;
        while (branches.length < merge) branches.push(null);
        inner = below(columns(branches), seq(after));
      } else {
        inner = seq(g.children);
      }
      var w = inner.w + 2 * PAD, h = inner.h + LAB + PAD;
      return {w: w, h: h, draw: function (x, y) {
        frames.push({g: g, x: x, y: y, w: w, h: h});
        inner.draw(x + PAD, y + LAB);
      }};
    }
    var root = seq([{io: "in"}].concat(this.top.children, [{io: "out"}]));
    root.draw(16, 12);
    return {nodes: nodes, frames: frames, w: root.w + 32, h: root.h + 24};
  };

  Graph.prototype.render = function () {
    var self = this, data = this.data;
    var L = this.layout(), nodes = L.nodes;
    var at = {};
    nodes.forEach(function (n) { at[n.key] = n; });
    // the data-flow edges between drawn nodes, each once, labelled with the shape carried
    var edges = [], seen = {};
    function edge(a, b, label) {
      if (a === b || seen[a + ">" + b]) return;
      seen[a + ">" + b] = true;
      edges.push({a: at[a], b: at[b], label: label});
    }
    data.rows.forEach(function (r, i) {
      var b = self.rep(i);
      r[5].forEach(function (src) {
        edge(src < 0 ? "in" : self.rep(src), b, src < 0 ? data.input : data.rows[src][3]);
      });
    });
    edge(data.out < 0 ? "in" : this.rep(data.out), "out", data.output);

    // the nodes overlapping the band y1..y2, found from a list sorted by y (a node is at
    // most NH tall), so that long networks do not scan every node per edge
    var byY = nodes.slice().sort(function (p, q) { return p.y - q.y; });
    function within(y1, y2, fn) {
      var lo = 0, hi = byY.length;
      while (lo < hi) { var mid = (lo + hi) >> 1; if (byY[mid].y < y1 - NH) lo = mid + 1; else hi = mid; }
      for (var k = lo; k < byY.length && byY[k].y < y2; k++) {
        var n = byY[k];
        if (n.y + n.h > y1 && fn(n)) return true;
      }
      return false;
    }
    function blocked(x, y1, y2, a, b) {
      return within(y1, y2, function (n) {
        return n !== a && n !== b && n.x - 6 < x && n.x + n.w + 6 > x;
      });
    }
    var lanes = [], maxX = L.w;
    edges.forEach(function (e) {
      e.x1 = e.a.x + e.a.w / 2; e.y1 = e.a.y + e.a.h;
      e.x2 = e.b.x + e.b.w / 2; e.y2 = e.b.y;
      if (e.y2 > e.y1 && !blocked(e.x1, e.y1, e.y2 - VG + 4, e.a, e.b)) {
        var yc = e.y2 - VG + 4;
        e.d = Math.abs(e.x1 - e.x2) < 1 ? "M" + e.x1 + " " + e.y1 + "V" + e.y2 :
          "M" + e.x1 + " " + e.y1 + "V" + yc + "C" + e.x1 + " " + (e.y2 - 4) + " " + e.x2 +
          " " + yc + " " + e.x2 + " " + e.y2;
        e.lx = e.x1 + 4; e.ly = e.y1 + 11;
      } else if (e.y2 > e.y1 && e.y2 - e.y1 < 2 * (NH + VG) &&
                 !blocked(e.x2, e.y1 + VG - 4, e.y2, e.a, e.b)) {
        var yb = e.y1 + VG - 4;
        e.d = "M" + e.x1 + " " + e.y1 + "C" + e.x1 + " " + yb + " " + e.x2 + " " + (e.y1 + 4) +
          " " + e.x2 + " " + yb + "V" + e.y2;
        e.lx = e.x2 + 4; e.ly = e.y2 - 6;
      } else {
        e.lane = true;
      }
    });
    // the rest (skips, identity shortcuts) go round the right of what lies between, shortest
    // innermost, so nested skips (U-Net) nest
    edges.filter(function (e) { return e.lane; })
      .sort(function (p, q) { return (p.y2 - p.y1) - (q.y2 - q.y1); })
      .forEach(function (e) {
        var top = Math.min(e.y1, e.y2), bottom = Math.max(e.y1, e.y2);
        var x = Math.max(e.x1, e.x2) + 12;
        within(top, bottom, function (n) {
          if (n.x + n.w > Math.min(e.x1, e.x2) - NW / 2) x = Math.max(x, n.x + n.w + 10);
          return false;
        });
        var moved = true;
        while (moved) {
          moved = false;
          for (var k = 0; k < lanes.length; k++) {
            var l = lanes[k];
            if (l.top < bottom && l.bottom > top && Math.abs(l.x - x) < 8) { x = l.x + 9; moved = true; }
          }
        }
        lanes.push({x: x, top: top, bottom: bottom});
        maxX = Math.max(maxX, x + 90);
        e.d = "M" + e.x1 + " " + e.y1 + "C" + e.x1 + " " + (e.y1 + 14) + " " + x + " " +
          (e.y1 + 2) + " " + x + " " + (e.y1 + 16) + "V" + (e.y2 - 16) + "C" + x + " " +
          (e.y2 - 2) + " " + e.x2 + " " + (e.y2 - 14) + " " + e.x2 + " " + e.y2;
        e.lx = x + 3; e.ly = (e.y1 + e.y2) / 2;
      });

    // -- draw ---------------------------------------------------------------------------------
    var old = this.host.querySelector("svg.graph");
    var svg = el("svg", {"class": "graph", width: maxX, height: L.h,
                         viewBox: "0 0 " + maxX + " " + L.h, role: "img",
                         "aria-label": "network graph"});
    el("path", {d: "M0 0L8 4L0 8z", "class": "arrowhead"},
       el("marker", {id: this.host.id + "-arrow", viewBox: "0 0 8 8", refX: 7, refY: 4,
                     markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"},
          el("defs", {}, svg)));
    L.frames.forEach(function (f) {
      var g = el("g", {"class": "frame" + (f.g.mark ? " mark-changed" : ""),
                       "data-path": f.g.path, "data-group": f.g.path}, svg);
      el("rect", {x: f.x, y: f.y, width: f.w, height: f.h, rx: 8}, g);
    });
    var labels = {}, labelled = {};
    edges.forEach(function (e) {
      el("path", {d: e.d, "class": "edge" + (e.lane ? " skip" : ""),
                  "marker-end": "url(#" + self.host.id + "-arrow)"}, svg);
    });
    // one label per place; an edge round the side is labelled only when its source's shape
    // is not already written under the source
    edges.filter(function (e) { return !e.lane; }).concat(edges.filter(function (e) {
      return e.lane;
    })).forEach(function (e) {
      var key = Math.round(e.lx) + "," + Math.round(e.ly), src = e.a.key + ":" + e.label;
      if (labels[key] || (e.lane && labelled[src])) return;
      labels[key] = labelled[src] = true;
      text(svg, e.lx, e.ly, "shape", e.label);
    });
    // block labels above the edges that cross them
    L.frames.forEach(function (f) {
      var label = text(svg, f.x + 8, f.y + 14, "frame-label toggle",
                       "\u25be " + f.g.path + " \u00b7 " + f.g.what);
      label.setAttribute("role", "button");
      label.setAttribute("data-frame", f.g.path);
      label.setAttribute("tabindex", "0");
      var close = function () { self.collapsed[f.g.id] = true; self.render(); };
      label.addEventListener("click", close);
      label.addEventListener("keydown", function (ev) { if (ev.key === "Enter") close(); });
    });
    var maxShare = 0;
    nodes.forEach(function (n) {
      var s = n.kind === "row" ? data.rows[n.idx][4] : n.kind === "group" ? self.groups[n.idx].share : null;
      n.share = s;
      if (s !== null && s > maxShare) maxShare = s;
    });
    nodes.forEach(function (n) {
      var g = el("g", {"class": "node " + n.kind, transform: "translate(" + n.x + "," + n.y + ")"}, svg);
      var lines, l1, l2, tipLines;
      if (n.kind === "io") {
        l1 = n.key === "in" ? "input " + data.input : "output " + data.output;
        g.setAttribute("data-io", n.key);
        el("rect", {width: n.w, height: n.h, rx: 13, "class": "box"}, g);
        text(g, n.w / 2, 17, "io-label", l1);
        return;
      }
      if (n.kind === "row") {
        var r = data.rows[n.idx];
        g.setAttribute("data-path", r[0]);
        l1 = r[1]; l2 = r[2]; tipLines = r[7];
        var m = self.marks[n.idx];
        if (m) g.setAttribute("class", g.getAttribute("class") + " mark-" + m);
      } else {
        var gr = self.groups[n.idx];
        g.setAttribute("data-path", gr.path);
        g.setAttribute("data-group", gr.path);
        g.setAttribute("role", "button");
        l1 = "\u25b8 " + gr.path + " \u00b7 " + gr.what; l2 = gr.line2; tipLines = gr.tip;
        if (gr.mark) g.setAttribute("class", g.getAttribute("class") + " mark-changed");
        g.setAttribute("tabindex", "0");
        var open = function () { self.collapsed[n.idx] = false; self.render(); };
        g.addEventListener("click", open);
        g.addEventListener("keydown", function (ev) { if (ev.key === "Enter") open(); });
      }
      var box = el("rect", {width: n.w, height: n.h, rx: 6, "class": "box"}, g);
      if (n.share !== null && maxShare > 0) {
        el("rect", {width: n.w, height: n.h, rx: 6, "class": "heat",
                    "fill-opacity": (0.75 * n.share / maxShare).toFixed(3)}, g);
      }
      box.setAttribute("data-share", n.share === null ? "" : n.share);
      text(g, 8, 15, "l1", cut(l1));
      text(g, 8, 29, "l2", cut(l2));
      g.addEventListener("mouseenter", function (ev) { showTip(ev, tipLines); });
      g.addEventListener("mousemove", moveTip);
      g.addEventListener("mouseleave", hideTip);
    });
    if (old) this.host.replaceChild(svg, old); else this.host.appendChild(svg);
    this.host.setAttribute("data-nodes", nodes.length);
  };

  // -- sortable tables -------------------------------------------------------------------------
  // a cell's data-v is its value as a number (absent: compare the text)
  function sortable(table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      th.setAttribute("role", "button");
      th.setAttribute("tabindex", "0");
      function sort() {
        var dir = th.getAttribute("aria-sort") === "descending" ? 1 : -1;
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        function key(tr) {
          var td = tr.cells[col], v = td.getAttribute("data-v");
          return v !== null && v !== "" ? [0, parseFloat(v)] : [1, td.textContent];
        }
        rows.sort(function (p, q) {
          var a = key(p), b = key(q);
          if (a[0] !== b[0]) return a[0] - b[0];
          if (a[1] < b[1]) return -dir;
          if (a[1] > b[1]) return dir;
          return 0;
        });
        rows.forEach(function (tr) { body.appendChild(tr); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (ev) { if (ev.key === "Enter") sort(); });
    });
  }

  function start() {
    var graphs = [];
    document.querySelectorAll("[data-graph]").forEach(function (host) {
      var data = JSON.parse(document.getElementById(host.getAttribute("data-graph")).textContent);
      var g = new Graph(host.querySelector(".graph-host"), data);
      graphs.push(g);
      g.render();
      host.querySelectorAll("button[data-action]").forEach(function (b) {
        b.addEventListener("click", function () {
          var a = b.getAttribute("data-action");
          if (a === "expand") g.setAll(false); else if (a === "collapse") g.setAll(true); else g.reset();
          g.render();
        });
      });
    });
    document.querySelectorAll("table.sortable").forEach(sortable);
    window.convcalcGraphs = graphs;
    document.documentElement.setAttribute("data-ready", "1");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
