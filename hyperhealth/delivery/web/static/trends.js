// Trends on the person page: one measurement per day, ISO week or month, from
// GET /api/persons/{id}/trends. The chart shows each period's mean with its middle half
// (25th-75th percentile) and the person's usual range as a band; the table holds the same numbers.
"use strict";
(function () {
  const form = document.getElementById("trends-form");
  const chart = document.getElementById("trends-chart");
  if (!form || !chart) return;
  const T = window.hhT || ((s, p) => (p ? s.replace(/%\((\w+)\)s/g, (_, k) => p[k]) : s));
  const N = window.hhNumber || ((v, d) => (d === undefined ? String(v) : Number(v).toFixed(d)));
  const status = document.getElementById("trends-status");
  const table = document.getElementById("trends-table");
  const pid = document.getElementById("person").dataset.personId;
  const PERIOD = { day: T("per day"), week: T("per week"), month: T("per month") };
  let pending = 0;

  function say(text) { status.textContent = text; }

  // the measurement's name as the select shows it (in the reader's language)
  function nameOf(body) {
    const option = form.elements.code.querySelector('option[value="' + body.code + '"]');
    return option ? option.textContent : body.name;
  }

  function digits(unit) { return unit === "mmol/L" || unit === "kg" || unit === "lb" || unit === "Cel" ? 1 : 0; }

  function fillTable(body) {
    const d = digits(body.unit);
    const caption = table.querySelector("caption");
    caption.textContent = T("%(name)s %(period)s (%(unit)s)",
                            { name: nameOf(body), period: PERIOD[body.period], unit: body.unit_text });
    const head = document.createElement("tr");
    for (const h of [T("Period"), T("Mean"), T("25th–75th percentile"), T("Lowest"), T("Highest"), T("Number of values")]) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = h;
      head.append(th);
    }
    table.tHead.replaceChildren(head);
    const rows = body.periods.map((p) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = p.start.slice(0, 10);
      tr.append(th);
      for (const v of [N(p.mean, d), p.p25 === null ? "—" : N(p.p25, d) + "–" + N(p.p75, d),
                       N(p.min, d), N(p.max, d), String(p.n)]) {
        const td = document.createElement("td");
        td.textContent = v === "" ? "—" : v;
        tr.append(td);
      }
      return tr;
    });
    table.tBodies[0].replaceChildren(...rows);
  }

  async function draw() {
    const token = ++pending;
    const code = form.elements.code.value;
    const period = form.elements.period.value;
    say(T("Loading…"));
    const r = await fetch("/api/persons/" + encodeURIComponent(pid) + "/trends?code=" +
                          encodeURIComponent(code) + "&period=" + period,
                          { headers: { Accept: "application/json" } });
    const body = await r.json();
    if (!r.ok) throw new Error((body.what || r.statusText) + (body.fix ? " — " + body.fix : ""));
    if (token !== pending) return;
    const rows = body.periods.filter((p) => p.mean !== null);
    const x = rows.map((p) => p.start.slice(0, 10));
    const data = [{
      x: x, y: rows.map((p) => p.mean), type: "scatter", mode: "lines+markers",
      name: T("Mean"), line: { color: "#0b4fb3", width: 2 }, marker: { size: 7 },
      error_y: { type: "data", symmetric: false, color: "#4a4a4a", thickness: 1.5,
                 array: rows.map((p) => p.p75 - p.mean), arrayminus: rows.map((p) => p.mean - p.p25) },
      hovertemplate: "%{y:.1f} " + body.unit_text + "<extra></extra>",
    }];
    const shapes = [];
    if (body.baseline) {
      shapes.push({ type: "rect", xref: "paper", x0: 0, x1: 1, yref: "y", y0: body.baseline.low,
                    y1: body.baseline.high, fillcolor: "#dbe6f5", opacity: 0.7, line: { width: 0 },
                    layer: "below" });
    }
    const layout = {
      height: 300, margin: { l: 60, r: 20, t: 10, b: 50 }, showlegend: false, shapes: shapes,
      xaxis: { type: "date", title: { text: PERIOD[body.period] } },
      yaxis: { title: { text: body.unit_text }, automargin: true },
      font: { size: 12, color: "#1b1b1b" },
    };
    await Plotly.react(chart, data, layout, { responsive: true, displaylogo: false });
    fillTable(body);
    say(rows.length
      ? T("%(name)s %(period)s (periods shown: %(n)s).", { name: nameOf(body), period: PERIOD[body.period], n: rows.length }) +
        (body.baseline ? " " + T("Usual range %(low)s–%(high)s %(unit)s.",
                                 { low: N(body.baseline.low, digits(body.unit)), high: N(body.baseline.high, digits(body.unit)),
                                   unit: body.unit_text }) : "")
      : T("No values in this period."));
  }

  function redraw() { draw().catch((err) => say(T("The trend could not be loaded: %(error)s", { error: err.message }))); }

  if (typeof Plotly === "undefined") { say(T("The chart library did not load.")); return; }
  form.addEventListener("change", redraw);
  form.addEventListener("submit", (ev) => { ev.preventDefault(); redraw(); });
  redraw();
})();
