// smsgw console: live overview charts from /console/live (server-sent
// events). No library: each chart is an SVG polyline redrawn per event.
"use strict";
(function () {
  var keep = 120; // points per chart: two minutes at one a second
  var history = {};

  function text(id, v) {
    var el = document.getElementById(id);
    if (el) { el.textContent = v; }
  }

  function push(name, v) {
    var h = history[name] || (history[name] = []);
    h.push(v);
    if (h.length > keep) { h.shift(); }
    return h;
  }

  // draw scales the points to the chart's 120x32 box, highest on top.
  function draw(svg, points) {
    if (!svg) { return; }
    var top = Math.max.apply(null, points.concat([1]));
    var step = 120 / (keep - 1), off = keep - points.length;
    var out = points.map(function (v, i) {
      return ((off + i) * step).toFixed(1) + "," + (31 - (v / top) * 30).toFixed(1);
    });
    svg.querySelector("polyline").setAttribute("points", out.join(" "));
  }

  // dur writes seconds as 45s, 12m 5s or 3h 20m.
  function dur(s) {
    if (s < 60) { return s + "s"; }
    if (s < 3600) { return Math.floor(s / 60) + "m " + (s % 60) + "s"; }
    return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  }

  function fmt(v) { return v >= 100 ? v.toFixed(0) : v.toFixed(1); }

  function carriers(list) {
    var body = document.querySelector("#carriers tbody");
    if (!body) { return; }
    body.textContent = "";
    list.forEach(function (c) {
      var tr = document.createElement("tr");
      tr.dataset.carrier = c.name;
      var state = c.paused ? "paused" : (c.up ? "up" : "down");
      var label = c.down_for > 0 ? state + " for " + dur(c.down_for) : state;
      [["th", c.name, ""], ["td", label, "state " + state], ["td", c.binds_up + " of " + c.binds, ""],
       ["td", c.breaker, "breaker " + c.breaker]].forEach(function (cell) {
        var el = document.createElement(cell[0]);
        if (cell[0] === "th") { el.scope = "row"; }
        el.textContent = cell[1];
        if (cell[2]) { el.className = cell[2]; }
        tr.appendChild(el);
      });
      body.appendChild(tr);
    });
  }

  function failures(list) {
    var ol = document.getElementById("failures");
    if (!ol) { return; }
    ol.textContent = "";
    (list.length ? list : [{reason: "none", count: -1}]).forEach(function (f) {
      var li = document.createElement("li");
      li.textContent = f.count < 0 ? f.reason : f.reason + ": " + f.count;
      ol.appendChild(li);
    });
  }

  function update(s) {
    ["accepted", "submitted", "delivered", "failed"].forEach(function (k) {
      var r = s.rates[k] || 0;
      text("rate-" + k, fmt(r));
      text("total-" + k, s.totals[k] || 0);
      draw(document.querySelector('[data-series="' + k + '"] svg'), push(k, r));
    });
    text("queue", s.queue);
    draw(document.getElementById("queue-spark"), push("queue", s.queue));
    text("binds-up", s.binds_up);
    text("binds-down", s.binds_down);
    text("delivery", s.delivery < 0 ? "–" : (100 * s.delivery).toFixed(1) + "%");
    text("latency", s.latency_ms < 0 ? "–" : s.latency_ms.toFixed(0) + " ms");
    carriers(s.carriers || []);
    failures(s.failures || []);
    text("live-state", "Live, updated " + new Date(s.at).toLocaleTimeString());
  }

  function connect() {
    if (!document.getElementById("failures") || !window.EventSource) { return; }
    var es = new EventSource("/console/live");
    es.addEventListener("snapshot", function (e) { update(JSON.parse(e.data)); });
    es.onerror = function () { text("live-state", "Live updates lost; retrying…"); };
  }

  document.addEventListener("DOMContentLoaded", connect);
})();
