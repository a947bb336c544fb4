// "At a glance" on the person page: today's values against the person's own usual range, last
// night's sleep, today's steps, CGM time in range and the environment, from
// GET /api/persons/{id}/summary. Every card states its numbers in text; the small charts repeat
// them for sighted readers and are hidden from screen readers.
"use strict";
(function () {
  const root = document.getElementById("person");
  const box = document.getElementById("glance-cards");
  if (!root || !box) return;
  const T = window.hhT || ((s, p) => (p ? s.replace(/%\((\w+)\)s/g, (_, k) => p[k]) : s));
  const N = window.hhNumber || ((v, d) => (d === undefined ? String(v) : Number(v).toFixed(d)));
  const status = document.getElementById("glance-status");
  const pid = root.dataset.personId;

  // names in the reader's language (the API's are English)
  const NAMES = {
    "40443-4": T("Resting heart rate"), "8867-4": T("Heart rate"),
    "80404-7": T("Heart rate variability (SDNN)"), "59408-5": T("Blood oxygen (SpO2)"),
    "2708-6": T("Blood oxygen"), "8480-6": T("Systolic blood pressure"),
    "8462-4": T("Diastolic blood pressure"), "29463-7": T("Weight"),
    "8310-5": T("Body temperature"), "9279-1": T("Respiratory rate"),
  };
  const SECTIONS = {
    vitals: T("Vital signs"), sleep: T("Sleep"), activity: T("Activity"),
    glucose: T("Glucose"), environment: T("Environment"), advisories: T("Advice"),
  };
  const STATE = {
    below: T("below the usual range"), within: T("within the usual range"),
    above: T("above the usual range"), "no-baseline": T("no usual range yet (needs 7 days)"),
    "no-data": T("no readings today"),
  };

  const el = window.hhEl; // static/dom.js

  function card(title, ...body) {
    return el("article", { class: "card" }, el("h3", {}, title), ...body);
  }

  function bandText(b, unit, digits) {
    if (!b) return "";
    return T("Usual range %(low)s–%(high)s %(unit)s (%(days)s days)",
             { low: N(b.low, digits), high: N(b.high, digits), unit: unit, days: b.days });
  }

  // a 14-day sparkline: the usual range as a band, daily values as a line, today as a dot
  function spark(values, band) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 140 40");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("aria-hidden", "true");
    const known = values.filter((v) => v !== null && v !== undefined);
    if (!known.length) return svg;
    let lo = Math.min(...known), hi = Math.max(...known);
    if (band) { lo = Math.min(lo, band.low); hi = Math.max(hi, band.high); }
    const pad = (hi - lo) * 0.1 || 1;
    lo -= pad; hi += pad;
    const x = (i) => (values.length === 1 ? 70 : (i * 140) / (values.length - 1));
    const y = (v) => 40 - ((v - lo) / (hi - lo)) * 40;
    if (band) {
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("x", "0"); r.setAttribute("width", "140");
      r.setAttribute("y", String(y(band.high)));
      r.setAttribute("height", String(Math.max(1, y(band.low) - y(band.high))));
      r.setAttribute("fill", "#dbe6f5");
      svg.append(r);
    }
    const pts = values.map((v, i) => (v === null || v === undefined ? null : x(i) + "," + y(v)))
      .filter(Boolean);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#0b4fb3");
    line.setAttribute("stroke-width", "1.5");
    svg.append(line);
    const last = values[values.length - 1];
    if (last !== null && last !== undefined) {
      const dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", String(x(values.length - 1)));
      dot.setAttribute("cy", String(y(last)));
      dot.setAttribute("r", "3");
      dot.setAttribute("fill", "#1b1b1b");
      svg.append(dot);
    }
    return svg;
  }

  function value(v, unit, digits) {
    return el("p", { class: "value" }, v === null || v === undefined ? "—" : N(v, digits),
              " ", el("span", { class: "unit" }, unit));
  }

  function stateLine(state, band, unit, digits) {
    return el("p", {}, el("span", { class: "state state-" + state }, STATE[state] || state),
              band ? el("br") : null, band ? el("span", { class: "muted small" },
                                                   bandText(band, unit, digits)) : null);
  }

  function digitsOf(item) {
    return item.code === "29463-7" || item.code === "8310-5" ? 1 : 0;
  }

  function vitalCard(item) {
    const d = digitsOf(item);
    const latest = item.today && item.today.latest;
    return card(NAMES[item.code] || item.name,
      value(item.today ? item.today.mean : null, item.unit_text, d),
      el("p", { class: "muted small" }, latest
        ? T("Mean today (readings: %(n)s); latest %(value)s at %(time)s",
            { n: item.today.readings, value: N(latest.value, d),
              time: window.hhDateTime ? hhDateTime(latest.time, { dateStyle: undefined }) : latest.time })
        : item.last ? T("No reading today; last %(value)s on %(time)s",
                        { value: N(item.last.value, d), time: window.hhDateTime ? hhDateTime(item.last.time) : item.last.time })
          : ""),
      stateLine(item.state, item.baseline, item.unit_text, d),
      spark((item.series || []).map((p) => p.value), item.baseline));
  }

  function sleepCard(s) {
    const night = s.last_night;
    return card(T("Sleep last night"),
      value(night ? night.hours : null, T("hours"), 1),
      night && night.efficiency_percent !== null
        ? el("p", { class: "muted small" }, T("Efficiency %(pct)s %", { pct: N(night.efficiency_percent, 0) })) : null,
      night ? el("p", {}, night.meets_recommendation ? T("Meets the 7-hour recommendation for adults.")
                                                    : T("Less than the 7 hours recommended for adults.")) : null,
      stateLine(s.state, s.baseline && { ...s.baseline, low: s.baseline.low / 60, high: s.baseline.high / 60 },
                T("hours"), 1),
      spark((s.series || []).map((p) => (p.minutes === null ? null : p.minutes / 60)),
            s.baseline && { low: s.baseline.low / 60, high: s.baseline.high / 60 }),
      el("p", { class: "muted small" }, el("cite", {}, s.citation || "")));
  }

  function activityCard(a) {
    const today = a.today || {};
    const compare = a.by_this_time || a.baseline;
    return card(T("Steps today"),
      value(today.steps, T("steps"), 0),
      stateLine(a.state, compare, T("steps"), 0),
      a.by_this_time ? el("p", { class: "muted small" },
                          T("Compared with the steps by %(time)s on earlier days.", { time: a.by_this_time.until })) : null,
      spark((a.series || []).map((p) => p.steps), a.baseline),
      (a.exercise || []).length ? el("p", { class: "small" }, T("Exercise: %(list)s", {
        list: a.exercise.map((e) => e.activity + (e.minutes ? " " + N(e.minutes, 0) + " min" : "")).join(", ") })) : null);
  }

  const TIR = [
    ["very_low", T("Very low"), "#7a0c0c"], ["low", T("Low"), "#c2410c"],
    ["in_range", T("In range"), "#1e6b34"], ["high", T("High"), "#b8860b"],
    ["very_high", T("Very high"), "#8a4600"],
  ];

  const RANGE_LABELS = {
    "mg/dL": { very_low: "<54", low: "54–69", in_range: "70–180", high: "181–250", very_high: ">250" },
    "mmol/L": { very_low: "<3.0", low: "3.0–3.8", in_range: "3.9–10.0", high: "10.1–13.9", very_high: ">13.9" },
  };

  function glucoseCard(g) {
    const unit = g.unit;
    const d = unit === "mmol/L" ? 1 : 0;
    // the consensus report's own labels of the ranges (Battelino 2019, table 1)
    const range = (k) => RANGE_LABELS[unit === "mmol/L" ? "mmol/L" : "mg/dL"][k];
    const bar = el("div", { class: "tir", "aria-hidden": "true" });
    const list = el("ul", { class: "small" });
    for (const [k, label, colour] of TIR) {
      const pct = g.percent[k] || 0;
      const seg = el("span", { title: label });
      seg.style.width = pct + "%";
      seg.style.background = colour;
      bar.append(seg);
      list.append(el("li", {}, T("%(label)s (%(range)s %(unit)s): %(pct)s %", {
        label: label, range: range(k), unit: unit, pct: N(pct, 1) })));
    }
    const targets = el("ul", { class: "small" });
    for (const t of g.targets || []) {
      targets.append(el("li", {}, (t.met ? "✓ " : "✗ ") + t.what + ": " + N(t.value_percent, 1) +
                        " % (" + T("target") + " " + t.target + ")"));
    }
    return card(T("Time in range (last %(n)s days)", { n: g.window_days }),
      value(g.percent.in_range, "%", 1),
      bar, list,
      el("p", { class: "small" }, T("Mean %(mean)s %(unit)s · GMI %(gmi)s % · CV %(cv)s % · sensor worn %(wear)s %", {
        mean: N(g.mean, d), unit: unit, gmi: N(g.gmi_percent, 1), cv: N(g.cv_percent, 1), wear: N(g.wear_percent, 0) })),
      g.reliable ? null : el("p", { class: "state state-above" },
                              T("Not enough data for a reliable report: %(why)s", { why: (g.reliability || []).join("; ") })),
      el("details", {}, el("summary", {}, T("Consensus targets")), targets),
      el("p", { class: "muted small" }, el("cite", {}, [].concat(g.citation || []).join("; "))));
  }

  function environmentCard(e) {
    const heatLevel = e.heat_level || T("no warning");
    const rows = el("ul", { class: "small" });
    for (const r of e.readings || []) {
      rows.append(el("li", {}, r.name + ": " + N(r.value, 1) + " " + r.unit_text));
    }
    const swatch = e.aqi_colour ? el("span", { class: "swatch", "aria-hidden": "true" }) : null;
    if (swatch) swatch.style.background = e.aqi_colour;
    return card(T("Environment now"),
      e.aqi !== null && e.aqi !== undefined
        ? el("p", {}, swatch, " ", T("Air quality index %(aqi)s: %(category)s", { aqi: e.aqi, category: e.aqi_category })) : null,
      e.heat_index !== null && e.heat_index !== undefined
        ? el("p", {}, T("Heat index %(value)s °C: %(level)s", { value: N(e.heat_index, 0), level: heatLevel })) : null,
      e.place ? el("p", { class: "muted small" }, T("Near %(place)s", { place: e.place.label })) : null,
      rows);
  }

  function missingCard(name, why) {
    return card(name, el("p", { class: "muted" }, why));
  }

  async function load() {
    const r = await fetch("/api/persons/" + encodeURIComponent(pid) + "/summary",
                          { headers: { Accept: "application/json" } });
    const body = await r.json();
    if (!r.ok) throw new Error((body.what || r.statusText) + (body.fix ? " — " + body.fix : ""));
    const s = body.sections || {};
    const cards = [];
    if (s.vitals && s.vitals.status === "ok") s.vitals.items.forEach((i) => cards.push(vitalCard(i)));
    if (s.glucose && s.glucose.status === "ok") cards.push(glucoseCard(s.glucose));
    if (s.sleep) cards.push(s.sleep.status === "ok" ? sleepCard(s.sleep) : missingCard(T("Sleep last night"), T("No sleep logged.")));
    if (s.activity) cards.push(s.activity.status === "ok" ? activityCard(s.activity) : missingCard(T("Steps today"), T("No step records.")));
    if (s.environment) cards.push(s.environment.status === "ok" ? environmentCard(s.environment) : missingCard(T("Environment now"), T("No environment readings nearby.")));
    const hidden = (body.hidden || []).map((h) => SECTIONS[h.section] || h.section);
    box.replaceChildren(...cards);
    const when = window.hhDateTime ? hhDateTime(body.as_of) : body.as_of;
    status.textContent = T("As of %(when)s.", { when: when }) +
      (hidden.length ? " " + T("Not shared with you: %(list)s.", { list: hidden.join(", ") }) : "");
  }

  load().catch((err) => { status.textContent = T("The summary could not be loaded: %(error)s", { error: err.message }); });
})();
