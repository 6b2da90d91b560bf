/* medmap report: interactive UMAP views (one per domain, a layer slider and a colour choice).
   Reads the run's data from the JSON script element #medmap-data. Every string from
   the run is HTML-escaped before Plotly sees it (Plotly renders a subset of HTML in hover text and
   legends). Sets document.body.dataset.ready = "1" once every plot is drawn; with "#selftest" in
   the URL it also moves each slider, checks that the plot changed, and records the outcome in
   data-slider-test (used by the browser test). */
(function () {
  "use strict";
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
                 "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"];
  var SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "cross", "triangle-down", "star"];
  var CONFIG = {displaylogo: false, responsive: true, showSendToCloud: false, showEditInChartStudio: false,
                plotlyServerURL: "", modeBarButtonsToRemove: ["select2d", "lasso2d"]};

  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;").replace(/\$/g, "&#36;");  /* $..$ would be LaTeX */
  }
  function wrap(s, width) {  /* escaped lines of at most ~width characters, joined by <br> */
    var words = String(s).split(/\s+/), lines = [], cur = "";
    words.forEach(function (w) {
      if (cur && (cur + " " + w).length > width) { lines.push(cur); cur = w; } else { cur = cur ? cur + " " + w : w; }
    });
    if (cur) lines.push(cur);
    return lines.map(esc).join("<br>");
  }
  function hover(item) {
    var t = "<b>" + esc(item.id) + "</b><br>" + wrap(item.prompt, 70);
    var labels = item.labels || {};
    Object.keys(labels).forEach(function (k) { t += "<br>" + esc(k) + ": " + esc(labels[k]); });
    return t;
  }
  function distinct(values) {
    var seen = {}, out = [];
    values.forEach(function (v) { if (v !== null && v !== undefined && !seen[String(v)]) { seen[String(v)] = 1; out.push(String(v)); } });
    return out.sort();
  }

  function traces(d, layerIndex, colour) {
    var xy = d.coords[layerIndex], items = d.items, out = [];
    var texts = d._hover || (d._hover = items.map(hover));
    if (d.paths && d.paths.length) {
      var lx = [], ly = [];
      d.paths.forEach(function (p) { p.forEach(function (i) { lx.push(xy[i][0]); ly.push(xy[i][1]); }); lx.push(null); ly.push(null); });
      out.push({type: "scatter", mode: "lines", x: lx, y: ly, hoverinfo: "skip", showlegend: false,
                line: {color: "rgba(110,110,110,0.45)", width: 1}});
    }
    var values = items.map(function (it) { var v = (it.labels || {})[colour]; return v === undefined ? null : v; });
    var symbolOf = function () { return "circle"; };
    if (d.symbol) {
      var scats = distinct(items.map(function (it) { return (it.labels || {})[d.symbol]; }));
      symbolOf = function (i) { var v = (items[i].labels || {})[d.symbol]; return SYMBOLS[Math.max(0, scats.indexOf(String(v))) % SYMBOLS.length]; };
      scats.forEach(function (c, k) {  /* legend entries for the marker label */
        out.push({type: "scatter", mode: "markers", x: [null], y: [null], name: esc(d.symbol + ": " + c),
                  hoverinfo: "skip", marker: {size: 8, color: "#555555", symbol: SYMBOLS[k % SYMBOLS.length]}});
      });
    }
    function pointTrace(idx, name, colourSpec, extra) {
      var t = {type: "scatter", mode: "markers", name: esc(name),
               x: idx.map(function (i) { return xy[i][0]; }), y: idx.map(function (i) { return xy[i][1]; }),
               text: idx.map(function (i) { return texts[i]; }), hovertemplate: "%{text}<extra></extra>",
               marker: {size: 8, color: colourSpec, symbol: idx.map(symbolOf), line: {width: 0.5, color: "#fff"}}};
      return Object.assign(t, extra || {});
    }
    var all = values.map(function (_, i) { return i; });
    if (d.numeric[colour]) {
      var have = all.filter(function (i) { return values[i] !== null; });
      var tr = pointTrace(have, colour, have.map(function (i) { return values[i]; }), {showlegend: false});
      tr.marker.colorscale = "Viridis";
      tr.marker.showscale = true;
      tr.marker.colorbar = {title: {text: esc(colour)}, thickness: 14};
      out.push(tr);
      var missing = all.filter(function (i) { return values[i] === null; });
      if (missing.length) out.push(pointTrace(missing, "n/a", "#bbbbbb"));
    } else {
      distinct(values).forEach(function (c, k) {
        out.push(pointTrace(all.filter(function (i) { return values[i] !== null && String(values[i]) === c; }), c,
                            PALETTE[k % PALETTE.length]));
      });
      var none = all.filter(function (i) { return values[i] === null; });
      if (none.length) out.push(pointTrace(none, "n/a", "#bbbbbb"));
    }
    return out;
  }

  function layout(d, layerIndex, colour) {
    var axis = {showticklabels: false, zeroline: false, showgrid: true, gridcolor: "#eeeeee", title: {text: ""}};
    return {title: {text: esc(d.domain) + ": layer " + d.layers[layerIndex] + ", colour = " + esc(colour), x: 0.01},
            margin: {l: 20, r: 20, t: 40, b: 20}, hovermode: "closest", xaxis: axis, yaxis: axis,
            legend: d.numeric[colour] ? {orientation: "h", y: -0.02, yanchor: "top", font: {size: 11}} : {font: {size: 11}},
            paper_bgcolor: "#fff", plot_bgcolor: "#fff"};
  }

  function setUp(el, d) {
    var view = {el: el, data: d, plot: el.querySelector(".plot"), slider: el.querySelector("input[type=range]"),
                output: el.querySelector("output"), select: el.querySelector("select"), pending: null};
    function draw(first) {
      var i = +view.slider.value, colour = view.select ? view.select.value : d.colour_labels[0];
      view.output.textContent = "layer " + d.layers[i];
      var f = first ? Plotly.newPlot : Plotly.react;
      view.pending = f(view.plot, traces(d, i, colour), layout(d, i, colour), CONFIG);
      return view.pending;
    }
    view.slider.addEventListener("input", function () { draw(false); });
    if (view.select) view.select.addEventListener("change", function () { draw(false); });
    view.draw = draw;
    return view;
  }

  function snapshot(view) { return JSON.stringify(view.plot.data.map(function (t) { return [t.x, t.y]; })); }

  function selfTest(views) {
    var chain = Promise.resolve(), problems = [];
    views.forEach(function (v) {
      chain = chain.then(function () {
        var before = snapshot(v), old = v.slider.value, max = +v.slider.max;
        v.slider.value = String(+old === max ? 0 : max);
        v.slider.dispatchEvent(new Event("input", {bubbles: true}));
        return Promise.resolve(v.pending).then(function () {
          var want = "layer " + v.data.layers[+v.slider.value];
          if (snapshot(v) === before || v.output.textContent !== want) problems.push(v.data.domain);
          v.slider.value = old;
          v.slider.dispatchEvent(new Event("input", {bubbles: true}));
          return v.pending;
        });
      });
    });
    return chain.then(function () {
      var ext = [];
      document.querySelectorAll("[src],[href],link").forEach(function (n) {
        var u = n.getAttribute("src") || n.getAttribute("href") || "";
        if (/^(https?:)?\/\//i.test(u) || n.tagName === "LINK") ext.push(n.tagName + " " + u);
      });
      document.body.dataset.externalRefs = ext.length ? ext.join(" ") : "none";
      document.body.dataset.sliderTest = views.length === 0 ? "no-views" : problems.length ? "fail: " + problems.join(",") : "ok";
    });
  }

  function main() {
    var data = JSON.parse(document.getElementById("medmap-data").textContent);
    var umap = data.umap || {}, views = [];
    document.querySelectorAll(".umap[data-domain]").forEach(function (el) {
      var d = umap[el.getAttribute("data-domain")];
      if (d) views.push(setUp(el, d));
    });
    var ready = Promise.all(views.map(function (v) { return v.draw(true); }));
    ready.then(function () {
      document.body.dataset.ready = "1";
      if (/selftest/.test(window.location.hash)) return selfTest(views);
    }).catch(function (e) { window.__medmapError("report script: " + (e && e.message || e)); });
  }

  if (typeof Plotly === "undefined") { window.__medmapError("plotly.js did not load"); return; }
  main();
})();
