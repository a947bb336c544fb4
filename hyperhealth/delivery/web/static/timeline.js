// Timeline of one person's streams: one plotly subplot per stream on a shared time axis.
// Data comes downsampled from /api/persons/{id}/observations; zooming refetches the window.
"use strict";
(function () {
  const chart = document.getElementById("chart");
  if (!chart) return;
  const status = document.getElementById("chart-status");
  const range = document.getElementById("range");
  const pid = chart.dataset.personId;
  const api = "/api/persons/" + encodeURIComponent(pid);
  // codes shown together in one subplot (systolic and diastolic blood pressure)
  const GROUPS = { "8480-6": "bp", "8462-4": "bp" };
  const COLORS = ["#1f5fae", "#b3391f", "#2b7a3d", "#7a3f9d", "#8a6100", "#0f6e77"];
  let streams = [];
  let lastT = null;
  let firstT = null;
  const T = window.hhT || ((s, p) => (p ? s.replace(/%\((\w+)\)s/g, (_, k) => p[k]) : s));
  let pending = 0;

  function say(text) { status.textContent = text; }

  function maxPoints() {
    return Math.max(200, Math.min(4000, Math.round((chart.clientWidth || 800) * 2)));
  }

  async function getJSON(url) {
    const r = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await r.json();
    if (!r.ok) throw new Error((body.what || r.statusText) + (body.fix ? " — " + body.fix : ""));
    return body;
  }

  function windowFor(choice) {
    if (choice === "all" || !lastT) return [null, null];
    const end = new Date(lastT.getTime() + 1);
    return [new Date(end.getTime() - Number(choice) * 86400e3), end];
  }

  function traces(series, axis, color) {
    const out = [];
    const name = series.display + " (" + series.unit + ")";
    const p = series.points;
    const x = p.t.map(Date.parse); // ms since the epoch: plotly reads numbers on a date axis as UTC
    if (series.kind === "bucket_mean") {
      out.push({ x: x, y: p.max, yaxis: axis, xaxis: "x", mode: "lines", line: { width: 0 },
                 hoverinfo: "skip", showlegend: false, name: name + " max" });
      out.push({ x: x, y: p.min, yaxis: axis, xaxis: "x", mode: "lines", line: { width: 0 },
                 fill: "tonexty", fillcolor: color + "33", hoverinfo: "skip", showlegend: false,
                 name: name + " min" });
    }
    out.push({ x: x, y: p.value, yaxis: axis, xaxis: "x", name: name,
               mode: p.t.length > 60 ? "lines" : "lines+markers",
               line: { color: color, width: 1.5 }, marker: { size: 5, color: color },
               customdata: p.n,
               hovertemplate: "%{y:.1f} " + series.unit +
                 (series.kind === "bucket_mean" ? " (mean of %{customdata})" : "") +
                 "<extra>" + series.display + "</extra>" });
    return out;
  }

  async function draw(start, end) {
    const token = ++pending;
    say(T("Loading…"));
    const q = new URLSearchParams({ max_points: String(maxPoints()) });
    if (start) q.set("start", start.toISOString());
    if (end) q.set("end", end.toISOString());
    const rows = [];
    const seen = {};
    for (const s of streams) {
      const key = GROUPS[s.code] || s.code;
      if (!(key in seen)) { seen[key] = rows.length; rows.push([]); }
      rows[seen[key]].push(s);
    }
    const results = await Promise.all(streams.map((s) =>
      getJSON(api + "/observations?code=" + encodeURIComponent(s.code) + "&" + q)));
    if (token !== pending) return; // a newer request superseded this one
    const bycode = {};
    results.forEach((r) => { bycode[r.code] = r; });
    const data = [];
    const layout = {
      grid: { rows: rows.length, columns: 1, roworder: "top to bottom",
              subplots: rows.map((_, i) => ["x" + (i === 0 ? "y" : "y" + (i + 1))]) },
      height: Math.max(260, 170 * rows.length), margin: { l: 60, r: 20, t: 10, b: 40 },
      showlegend: false, hovermode: "x unified", font: { size: 12, color: "#1b1b1b" },
      xaxis: { type: "date", title: { text: T("time (UTC)") } },
    };
    let points = 0;
    let bucketed = false;
    rows.forEach((group, i) => {
      const axis = i === 0 ? "y" : "y" + (i + 1);
      const title = group.map((s) => bycode[s.code].display).join(" / ");
      layout[i === 0 ? "yaxis" : "yaxis" + (i + 1)] = {
        title: { text: shorten(title) + "<br>" + group[0].unit, font: { size: 11 } },
        automargin: true };
      group.forEach((s, j) => {
        const ser = bycode[s.code];
        points += ser.points.t.length;
        bucketed = bucketed || ser.kind === "bucket_mean";
        data.push(...traces(ser, axis, COLORS[(i + j) % COLORS.length]));
      });
    });
    if (start && end) layout.xaxis.range = [start.getTime(), end.getTime()];
    layout.shapes = eventShapes(start, end);
    await Plotly.react(chart, data, layout, { responsive: true, displaylogo: false });
    say(T("%(points)s points in %(charts)s charts.", { points: points.toLocaleString(), charts: rows.length }) +
        (bucketed ? " " + T("Dense streams are shown as bucket means with min–max bands.") : ""));
  }

  // alerts as thin vertical lines over every chart, medications as bars along the top edge
  const EVENTS = JSON.parse((document.getElementById("timeline-events") || {}).textContent || "{}");
  const LEVEL_COLOR = { urgent: "#a4161a", warn: "#b35c00", info: "#0b4fb3" };
  function eventShapes(start, end) {
    const shapes = [];
    (EVENTS.alerts || []).forEach((a) => {
      const t = Date.parse(a.t);
      if ((start && t < start.getTime()) || (end && t > end.getTime())) return;
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: t, x1: t, y0: 0, y1: 1,
                    line: { color: LEVEL_COLOR[a.level] || "#4a4a4a", width: 1, dash: "dot" } });
    });
    (EVENTS.medications || []).forEach((m, i) => {
      const lo = start ? start.getTime() : firstT.getTime();
      const hi = end ? end.getTime() : lastT.getTime();
      const t0 = Math.max(lo, m.start ? Date.parse(m.start) : lo);
      const t1 = Math.min(hi, m.end ? Date.parse(m.end) : hi);
      if (t1 <= t0) return;
      const y = 1.0 - 0.012 * (i % 4);
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: t0, x1: t1, y0: y, y1: y,
                    line: { color: "#2b7a3d", width: 4 } });
    });
    return shapes;
  }

  function shorten(text) { return text.length > 28 ? text.slice(0, 26) + "…" : text; }

  let zoomTimer = null;
  function onRelayout(ev) {
    const a = ev["xaxis.range[0]"], b = ev["xaxis.range[1]"];
    if (ev["xaxis.autorange"]) { clearTimeout(zoomTimer); redraw(); return; }
    if (!a || !b) return;
    clearTimeout(zoomTimer);
    zoomTimer = setTimeout(() => { draw(axisDate(a), axisDate(b)).catch(fail); }, 250);
  }

  // plotly reports a date axis range as "YYYY-MM-DD HH:MM:SS.sss" without zone (UTC here)
  function axisDate(v) {
    return typeof v === "number" ? new Date(v) : new Date(v.replace(" ", "T") + "Z");
  }

  function fail(err) { say(T("The chart could not be loaded: %(error)s", { error: err.message })); }
  function redraw() { const [s, e] = windowFor(range.value); draw(s, e).catch(fail); }

  async function start() {
    if (typeof Plotly === "undefined") { say(T("The chart library did not load.")); return; }
    const all = await getJSON(api + "/streams");
    // keep the streams with numeric values (coded answers such as smoking status have none)
    const probes = await Promise.all(all.map((s) =>
      getJSON(api + "/observations?max_points=1&code=" + encodeURIComponent(s.code))));
    streams = all.filter((s, i) => probes[i].readings > 0);
    if (!streams.length) { say(T("No measurements to chart.")); return; }
    lastT = new Date(Math.max(...streams.map((s) => Date.parse(s.last))));
    firstT = new Date(Math.min(...streams.map((s) => Date.parse(s.first))));
    await draw(...windowFor(range.value));
    chart.on("plotly_relayout", onRelayout);
    range.addEventListener("change", redraw);
  }

  start().catch(fail);
})();
