// Risk card of the person page (templates/_risk_card.html): every applicable risk equation from
// GET /api/persons/{id}/risk, with "now vs if" for the what-if scenarios, the inputs used /
// missing / assumed, the optional inputs that were not available (PREVENT chooses its model by
// them; the model used is a line under the equation's name), limits, citations and each
// equation's own notice (QRISK3's licence text is shown next to every QRISK3 score). Data is
// written as text nodes only, never as HTML.
"use strict";
(function () {
  const card = document.getElementById("risk-card");
  if (!card || !card.dataset.personId) return;
  const pid = card.dataset.personId;
  const status = document.getElementById("risk-status");
  const body = document.getElementById("risk-body");
  const fill = (s, p) => (p ? s.replace(/%\((\w+)\)s/g, (_, k) => String(p[k])) : s);
  // hhT from static/i18n.js (the page's language); the same fill-in without it
  const hhT = (s, p) => (window.hhT || fill)(s, p);

  const lang = window.hhLocale ? window.hhLocale() : (document.documentElement.lang || "en");
  const pctFmt = new Intl.NumberFormat(lang, { style: "percent", minimumFractionDigits: 1,
                                               maximumFractionDigits: 1 });
  const oneFmt = new Intl.NumberFormat(lang, { minimumFractionDigits: 1,
                                               maximumFractionDigits: 1 });
  const diffFmt = new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1,
                                                signDisplay: "exceptZero" });
  const numFmt = new Intl.NumberFormat(lang, { maximumFractionDigits: 2 });
  const listFmt = new Intl.ListFormat(lang, { style: "long", type: "conjunction" });

  // -- small DOM helpers --------------------------------------------------------------------------
  const el = window.hhEl; // static/dom.js
  const say = (text) => { status.textContent = text; };
  const words = (name) => String(name).replace(/_/g, " ");

  // -- labels -------------------------------------------------------------------------------------
  const STATUS = {
    "not applicable": () => hhT("not applicable"),
    incomplete: () => hhT("not computed: inputs missing"),
    "out of range": () => hhT("not computed: an input is outside the equation's range"),
  };
  const HOW = {
    measured: () => hhT("measured"),
    computed: () => hhT("computed"),
    recorded: () => hhT("recorded"),
    "no record": () => hhT("no record, taken as no"),
    imputed: () => hhT("assumed"),
    given: () => hhT("given"),
  };
  const CHANGE = {
    stop_smoking: () => hhT("Stop smoking"),
    sbp_minus_10: () => hhT("Systolic blood pressure 10 mmHg lower"),
    statin: () => hhT("Start a moderate-intensity statin"),
    lower_cholesterol: () => hhT("Lower LDL cholesterol"),
    weight_minus_5pct: () => hhT("Weight lower by 5 %"),
    more_activity: () => hhT("30 minutes of physical activity a day"),
  };
  // the models PREVENT chooses from (result.model.id); the API's English label otherwise
  const MODEL = {
    base: () => hhT("base model"),
    hba1c: () => hhT("base model adding HbA1c"),
    uacr: () => hhT("base model adding UACR"),
    sdi: () => hhT("base model adding SDI"),
    full: () => hhT("full model (base adding HbA1c, UACR and SDI)"),
  };
  // optional inputs by name; others are shown by their name
  const OPTIONAL = {
    hba1c: () => hhT("HbA1c (glycated haemoglobin)"),
    uacr: () => hhT("urine albumin-to-creatinine ratio (UACR)"),
    sdi_decile: () => hhT("Social Deprivation Index (SDI) decile of the home area"),
  };
  const optionalLabel = (name) => (OPTIONAL[name] ? OPTIONAL[name]() : words(name));

  function value(v, unit) {
    if (unit === "proportion") return pctFmt.format(v);
    if (unit === "points") return hhT("%(n)s points", { n: numFmt.format(v) });
    return unit ? oneFmt.format(v) + " " + unit : oneFmt.format(v);
  }

  function difference(d, unit) {
    if (unit === "proportion") {
      return hhT("%(n)s percentage points", { n: diffFmt.format(100 * d) });
    }
    if (unit === "points") return hhT("%(n)s points", { n: diffFmt.format(d) });
    return diffFmt.format(d) + (unit ? " " + unit : "");
  }

  function shown(v) {
    if (v === true) return hhT("yes");
    if (v === false) return hhT("no");
    if (v === null || v === undefined || v === "") return "—";
    if (typeof v === "number") return numFmt.format(v);
    return words(v);
  }

  // -- one computed equation ---------------------------------------------------------------------
  function estimates(run) {
    const res = run.result;
    const rows = res.estimates.map((e) => el("tr", {
      "data-outcome": e.outcome, "data-horizon": e.horizon_years ?? "", "data-value": e.value,
    },
      el("th", { scope: "row" }, e.label,
         e.note ? el("span", { class: "est-note muted small" }, e.note) : null),
      el("td", { class: "num estimate" }, value(e.value, e.unit)),
      el("td", {}, e.category || "—")));
    return el("div", { class: "scroll" }, el("table", { class: "estimates" },
      el("caption", { text: hhT("Estimates") }),
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: hhT("Outcome") }),
        el("th", { scope: "col", class: "num", text: hhT("Estimate") }),
        el("th", { scope: "col", text: hhT("Category") }))),
      el("tbody", {}, rows)));
  }

  function bars(now, after, top) {
    const scale = (v) => (top > 0 ? Math.max(0, Math.min(100, (100 * v) / top)) : 0);
    const bar = (cls, v) => {
      const b = el("span", { class: "wi-bar " + cls });
      b.style.width = scale(v).toFixed(1) + "%";
      return el("span", { class: "wi-track" }, b);
    };
    return el("span", { class: "wi-bars", "aria-hidden": "true" }, bar("now", now),
              bar("if", after));
  }

  // the API's description of a change, without what the short label already says
  function detail(label, description) {
    const d = String(description || "");
    if (!d || d.toLowerCase() === label.toLowerCase()) return null;
    const rest = d.toLowerCase().startsWith(label.toLowerCase())
      ? d.slice(label.length).trim() : d;
    return rest ? el("span", { class: "wi-desc muted small" }, rest) : null;
  }

  function whatIf(run) {
    const wi = run.what_if;
    if (!wi || !wi.scenarios || !run.result.estimates.length) return null;
    const head = run.result.estimates[0];
    const pick = (s) => (s.estimates || []).find(
      (e) => e.outcome === head.outcome && e.horizon_years === head.horizon_years);
    const usable = wi.scenarios.filter((s) => s.applicable && pick(s));
    const other = wi.scenarios.filter((s) => !(s.applicable && pick(s)));
    if (!usable.length) return null;  // e.g. eGFR: no modifiable input, nothing to compare
    const out = el("div", { class: "whatif" });
    const top = Math.max(...usable.map((s) => Math.max(pick(s).now, pick(s).if)));
    const rows = usable.map((s) => {
      const e = pick(s);
      const label = CHANGE[s.change] ? CHANGE[s.change]() : s.description;
      const more = detail(label, s.description);
      const flag = s.extrapolated && s.extrapolated.length
        ? el("span", { class: "wi-desc small" },
             hhT("Outside the equation's range: %(what)s", { what: s.extrapolated.join("; ") }))
        : null;
      return el("tr", { "data-change": s.change, "data-now": e.now, "data-if": e.if },
        el("th", { scope: "row" }, label, more, flag),
        el("td", { class: "num wi-now" }, value(e.now, e.unit)),
        el("td", { class: "num wi-if" }, value(e.if, e.unit)),
        el("td", { class: "num wi-diff" }, difference(e.change, e.unit)),
        el("td", { class: "wi-chart" }, bars(e.now, e.if, top)));
    });
    out.append(el("div", { class: "scroll" }, el("table", { class: "whatif-table" },
      el("caption", {}, hhT("What if: %(outcome)s, now and after one change",
                          { outcome: head.label })),
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: hhT("Change") }),
        el("th", { scope: "col", class: "num", text: hhT("Now") }),
        el("th", { scope: "col", class: "num", text: hhT("If") }),
        el("th", { scope: "col", class: "num", text: hhT("Difference") }),
        el("th", { scope: "col", class: "wi-chart" },
           el("span", { class: "wi-key now", "aria-hidden": "true" }), " ", hhT("now"), " ",
           el("span", { class: "wi-key if", "aria-hidden": "true" }), " ", hhT("if")))),
      el("tbody", {}, rows))));
    if (wi.note) out.append(el("p", { class: "muted small" }, wi.note));
    if (other.length) {
      out.append(el("details", { class: "wi-other" },
        el("summary", {}, hhT("Changes this equation cannot show (%(n)s)", { n: other.length })),
        el("ul", {}, other.map((s) => el("li", { "data-change": s.change },
          el("strong", {}, CHANGE[s.change] ? CHANGE[s.change]() : s.description), ": ",
          s.reason || hhT("no estimate for this outcome"))))));
    }
    return out;
  }

  function inputs(run) {
    const inp = run.inputs;
    if (!inp) return null;
    const used = inp.used || [], missing = inp.missing || [], imputed = inp.imputed || [];
    const optional = inp.optional_missing || [];
    const row = (u) => el("tr", { "data-input": u.name, "data-how": u.how },
      el("th", { scope: "row" }, words(u.name)),
      el("td", { class: "num" }, shown(u.value)),
      el("td", {}, HOW[u.how] ? HOW[u.how]() : u.how),
      el("td", { class: "wrap" }, u.detail,
         u.records && u.records.length
           ? el("span", { class: "records muted small" }, u.records.join("; ")) : null));
    const counts = { used: used.length, missing: missing.length, imputed: imputed.length,
                     optional: optional.length };
    const parts = [el("summary", {}, optional.length
      ? hhT("Inputs: %(used)s from the records, %(missing)s missing, %(imputed)s assumed, %(optional)s optional not available", counts)
      : hhT("Inputs: %(used)s from the records, %(missing)s missing, %(imputed)s assumed", counts))];
    if (used.length || imputed.length) {
      parts.push(el("div", { class: "scroll" }, el("table", { class: "inputs-table" },
        el("caption", { text: hhT("Inputs used") }),
        el("thead", {}, el("tr", {},
          el("th", { scope: "col", text: hhT("Input") }),
          el("th", { scope: "col", class: "num", text: hhT("Value") }),
          el("th", { scope: "col", text: hhT("How") }),
          el("th", { scope: "col", text: hhT("Where it came from") }))),
        el("tbody", {}, used.map(row), imputed.map(row)))));
    }
    if (missing.length) parts.push(missingList(missing));
    if (optional.length) parts.push(optionalList(run.equation, optional));
    for (const n of inp.notes || []) parts.push(el("p", { class: "muted small" }, n));
    return el("details", { class: "inputs" }, parts);
  }

  // optional inputs the equation computed without: not "missing" (nothing is blocked), but they
  // can change the model and so the estimate, which the clinician needs to see
  function optionalList(equation, optional) {
    const id = "risk-optional-" + equation;
    return el("section", { class: "optional-missing", "aria-labelledby": id },
      el("h4", { id: id }, hhT("Optional, not available")),
      el("p", { class: "small" }, hhT("The estimate was computed without these. Adding one can change the model the equation uses, and with it the estimate.")),
      el("ul", {}, optional.map((m) => el("li", { "data-input": m.name },
        el("strong", {}, optionalLabel(m.name)), ": ", m.reason,
        m.hint ? el("span", { class: "hint" }, " — ", hhT("to add: %(hint)s", { hint: m.hint }))
          : null))));
  }

  // "Model: base model adding HbA1c. Optional inputs not available: UACR, ..." under the name
  function model(run) {
    const m = run.result.model;
    if (!m) return null;
    const name = MODEL[m.id] ? MODEL[m.id]() : m.label;
    const absent = ((run.inputs && run.inputs.optional_missing) || []).map((x) => optionalLabel(x.name));
    return el("p", { class: "risk-model", "data-model": m.id },
      el("strong", {}, hhT("Model used:")), " ", el("span", { class: "model-name" }, name),
      absent.length ? el("span", { class: "model-absent small" },
        hhT("Optional inputs not available: %(names)s (see Inputs).",
            { names: listFmt.format(absent) })) : null);
  }

  function missingList(missing) {
    return el("ul", { class: "missing" }, missing.map((m) => el("li", { "data-input": m.name },
      el("strong", {}, words(m.name)), ": ", m.reason,
      m.hint ? el("span", { class: "hint" }, " — ", hhT("to add: %(hint)s", { hint: m.hint }))
        : null)));
  }

  function sources(res) {
    const cites = res.citations || [];
    const out = [];
    if (cites.length) {
      out.push(el("div", { class: "sources small" },
        el("span", { class: "muted" }, hhT("Source:"), " "),
        el("ul", {}, cites.map((c) => el("li", {}, el("cite", {}, c.text),
          c.doi ? [" ", el("a", { href: "https://doi.org/" + encodeURI(c.doi),
                                  rel: "noopener" }, "https://doi.org/" + c.doi)] : null)))));
    }
    if (res.limits) {
      out.push(el("details", { class: "limits" }, el("summary", {}, hhT("Limits of this equation")),
        el("p", {}, res.limits),
        res.method ? el("p", { class: "muted small" }, hhT("Method: %(m)s", { m: res.method }))
          : null));
    }
    return out;
  }

  function computed(run) {
    const res = run.result;
    const id = "risk-eq-" + run.equation;
    const notes = [...(run.notes || []), ...(res.warnings || []),
                   ...(res.extrapolated || []).map((x) => hhT("Extrapolated: %(what)s", { what: x }))];
    const art = el("article", { class: "risk-eq", "data-equation": run.equation,
                                "aria-labelledby": id },
      el("h3", { id: id }, run.name),
      model(run),
      estimates(run),
      // the equation's own notice (QRISK3: ClinRisk's licence text) sits next to its scores
      res.disclaimer ? el("p", { class: "licence small" },
                          el("strong", {}, hhT("Notice from the equation's authors:")), " ",
                          res.disclaimer) : null,
      notes.length ? el("ul", { class: "notes small" }, notes.map((n) => el("li", {}, n))) : null,
      run.enhancer ? el("p", { class: "enhancer small" }, el("strong", {}, run.enhancer.label),
                        ". ", run.enhancer.detail) : null,
      whatIf(run),
      inputs(run),
      sources(res));
    return art;
  }

  function notComputed(runs) {
    if (!runs.length) return [];
    return [el("h3", { id: "risk-not-computed" }, hhT("Not computed")),
      el("ul", { class: "not-computed", "aria-labelledby": "risk-not-computed" },
        runs.map((r) => el("li", { "data-equation": r.equation, "data-status": r.status },
          el("strong", {}, r.name), " — ", STATUS[r.status] ? STATUS[r.status]() : r.status,
          r.status === "incomplete" && r.inputs && r.inputs.missing.length
            ? [". ", hhT("What to record:"), missingList(r.inputs.missing)]
            : r.reason ? [": ", r.reason] : null)))];
  }

  function render(data) {
    const runs = data.runs || [];
    const done = runs.filter((r) => r.status === "computed" && r.result);
    const rest = runs.filter((r) => !(r.status === "computed" && r.result));
    // each equation carries the same reminder; it is said once, under the estimates
    const reminders = [...new Set(done.map((r) => r.result.note).filter(Boolean))];
    body.replaceChildren(
      ...done.map(computed),
      ...reminders.map((n) => el("p", { class: "muted small" }, n)),
      ...notComputed(rest),
      ...(data.notes || []).map((n) => el("p", { class: "muted small" }, n)),
      el("p", { class: "muted small" }, hhT("Data as JSON:"), " ",
         el("a", { href: "/api/persons/" + encodeURIComponent(pid) + "/risk" }, hhT("risk"))));
    const day = String(data.as_of || "").slice(0, 10);
    say(hhT("%(done)s equations computed and %(rest)s not computed, from records up to %(day)s.",
          { done: done.length, rest: rest.length, day: day }));
  }

  async function load() {
    card.setAttribute("aria-busy", "true");
    card.dataset.state = "loading";
    let r;
    try {
      r = await fetch("/api/persons/" + encodeURIComponent(pid) + "/risk",
                      { headers: { Accept: "application/json" }, credentials: "same-origin" });
    } catch (err) {
      return finish("error", hhT("Could not load the risk estimates: the server did not answer."));
    }
    if (r.status === 403) {
      return finish("not-shared", hhT("Risk estimates for this person are not shared with you."));
    }
    if (r.status === 401) {
      return finish("error", hhT("Your session has ended. Sign in again to see the risk estimates."));
    }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      return finish("error", hhT("Could not load the risk estimates: %(what)s",
                               { what: [data.what || r.statusText, data.fix].filter(Boolean)
                                 .join(" — ") }));
    }
    render(data);
    finish("ready");
  }

  function finish(state, text) {
    card.dataset.state = state;
    card.removeAttribute("aria-busy");
    if (text) say(text);
  }

  load();
})();
