// Host charts: CPU and memory over the last hour, drawn with the vendored
// uPlot. The history comes from data-history (JSON columns) and new samples
// from the data-live SSE stream; samples that arrive before the history are
// held, and joined to it by time, so none is lost or drawn twice.
//
// BEAM memory per replica: the last hour of every replica, fetched whole
// from its own data-history every 5 s (the rate the nodes are read), one
// series per replica.
(function () {
  "use strict";
  var root = document.getElementById("host-charts");
  if (!root || !window.uPlot || !window.fetch || !window.EventSource) {
    return;
  }
  var hour = 3600; // seconds of history the server keeps
  var gib = 1024 * 1024 * 1024;
  var data = { t: [], cpu: [], used: [], total: [] };
  var early = []; // live samples that came before the history
  var charts = []; // every chart on the page, resized together
  var cpuChart, memChart;

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function add(p) {
    var n = data.t.length;
    if (n > 0 && p.t <= data.t[n - 1]) {
      return; // already in the history
    }
    data.t.push(p.t);
    data.cpu.push(p.cpu);
    data.used.push(p.mem_used / gib);
    data.total.push(p.mem_total / gib);
    var cut = 0;
    while (data.t[cut] < p.t - hour) {
      cut++;
    }
    if (cut > 0) {
      Object.keys(data).forEach(function (k) {
        data[k].splice(0, cut);
      });
    }
  }

  // The chart fills its box, whose width the stylesheet decides.
  function width(el) {
    return Math.max(280, el.clientWidth);
  }

  function chart(el, series, yRange, unit) {
    var opts = {
      width: width(el),
      height: 220,
      scales: { x: { time: true }, y: { range: yRange } },
      series: [{}].concat(series),
      axes: [
        { stroke: css("--muted") },
        {
          stroke: css("--muted"),
          size: 60,
          values: function (u, vals) {
            return vals.map(function (v) {
              return v + " " + unit;
            });
          },
        },
      ],
    };
    var u = new uPlot(opts, [[]].concat(series.map(function () { return []; })), el);
    charts.push(u);
    return u;
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (c) {
      c.setSize({ width: width(c.root.parentNode), height: 220 });
    });
  });

  function draw() {
    cpuChart.setData([data.t, data.cpu]);
    memChart.setData([data.t, data.used, data.total]);
  }

  function start(history) {
    for (var i = 0; i < history.t.length; i++) {
      add({ t: history.t[i], cpu: history.cpu[i], mem_used: history.mem_used[i], mem_total: history.mem_total[i] });
    }
    early.forEach(add);
    early = null;
    cpuChart = chart(document.getElementById("chart-cpu"),
      [{ label: "CPU", stroke: css("--accent"), width: 1.5, value: function (u, v) { return v == null ? "—" : v.toFixed(1) + " %"; } }],
      [0, 100], "%");
    memChart = chart(document.getElementById("chart-mem"),
      [
        { label: "used", stroke: css("--info"), width: 1.5, value: function (u, v) { return v == null ? "—" : v.toFixed(2) + " GiB"; } },
        { label: "total", stroke: css("--muted"), dash: [4, 4], width: 1, value: function (u, v) { return v == null ? "—" : v.toFixed(2) + " GiB"; } },
      ],
      function (u, lo, hi) { return [0, Math.max(hi, 0.1)]; }, "GiB");
    draw();
    root.dataset.ready = "true"; // lets the browser tests wait for the charts
  }

  var beamFigure = document.querySelector("#beam-charts [data-history]");
  var beamEvery = 5000; // ms; deployex reads each node's memory this often
  var mib = 1024 * 1024;
  var beamChart = null;

  // Each replica's [t, MiB] table gets a null where its readings stop for
  // several refreshes (a restart, a hung VM), so its line breaks there;
  // uPlot.join puts the tables on one time axis and spans only the points
  // it adds for alignment.
  function beamData(replicas) {
    var gap = 3 * beamEvery / 1000;
    return uPlot.join(replicas.map(function (r) {
      var t = [], mem = [];
      for (var i = 0; i < r.t.length; i++) {
        if (i > 0 && r.t[i] - r.t[i - 1] > gap) {
          t.push(r.t[i - 1] + gap / 3);
          mem.push(null);
        }
        t.push(r.t[i]);
        mem.push(r.total[i] / mib);
      }
      return [t, mem];
    }));
  }

  function beamSeries(replicas) {
    var palette = ["--accent", "--info", "--ok", "--warn", "--bad"].map(css);
    return replicas.map(function (r, i) {
      return {
        label: r.app + "-" + r.instance,
        stroke: palette[i % palette.length],
        dash: i < palette.length ? undefined : [6, 3], // more replicas than colours
        width: 1.5,
        value: function (u, v) { return v == null ? "—" : v.toFixed(1) + " MiB"; },
      };
    });
  }

  // The replicas are the configured ones, fixed while deployex runs: the
  // first answer decides the series.
  function beamDraw(body) {
    if (body.replicas.length === 0) {
      return;
    }
    if (!beamChart) {
      beamChart = chart(document.getElementById("chart-beam"), beamSeries(body.replicas),
        function (u, lo, hi) { return [0, Math.max(hi, 1)]; }, "MiB");
    }
    beamChart.setData(beamData(body.replicas));
    // Lets the browser tests see what each series got.
    beamFigure.dataset.points = body.replicas.map(function (r) { return r.t.length; }).join(" ");
    beamFigure.dataset.fetches = String(Number(beamFigure.dataset.fetches || 0) + 1);
  }

  function beamFetch() {
    fetch(beamFigure.dataset.history, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) {
          throw new Error("HTTP " + r.status);
        }
        return r.json();
      })
      .then(function (body) {
        beamNote("");
        beamDraw(body);
      })
      .catch(function (err) {
        beamNote("The BEAM memory chart could not load: " + err.message + " (retrying)");
      })
      .then(function () {
        setTimeout(beamFetch, beamEvery);
      });
  }

  var beamError = null;
  function beamNote(text) {
    if (!beamError && text === "") {
      return;
    }
    if (!beamError) {
      beamError = document.createElement("p");
      beamError.className = "error";
      beamFigure.appendChild(beamError);
    }
    beamError.textContent = text;
    beamError.hidden = text === "";
  }

  if (beamFigure) {
    beamFetch();
  }

  var live = new EventSource(root.dataset.live);
  live.addEventListener("sample", function (ev) {
    var p = JSON.parse(ev.data);
    if (early) {
      early.push(p);
      return;
    }
    add(p);
    draw();
  });
  fetch(root.dataset.history, { credentials: "same-origin" })
    .then(function (r) {
      if (!r.ok) {
        throw new Error("history: HTTP " + r.status);
      }
      return r.json();
    })
    .then(start)
    .catch(function (err) {
      var p = document.createElement("p");
      p.className = "error";
      p.textContent = "The charts could not load: " + err.message;
      root.appendChild(p);
    });
})();
