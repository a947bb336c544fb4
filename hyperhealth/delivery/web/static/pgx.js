// Pharmacogenomics card of the person page (templates/_pgx_card.html): per gene the diplotype and
// phenotype, medicines with actionable CPIC guidance and what could not be called, from
// GET /api/persons/{id}/pgx; for clinicians (data-can-prescribe="true") a check of a proposed
// prescription, POST /api/persons/{id}/pgx/check-prescription. Data is written as text nodes only.
"use strict";
(function () {
  const card = document.getElementById("pgx-card");
  if (!card || !card.dataset.personId) return;
  const pid = card.dataset.personId;
  const base = "/api/persons/" + encodeURIComponent(pid) + "/pgx";
  const status = document.getElementById("pgx-status");
  const body = document.getElementById("pgx-body");
  const canPrescribe = card.dataset.canPrescribe === "true";
  const fill = (s, p) => (p ? s.replace(/%\((\w+)\)s/g, (_, k) => String(p[k])) : s);
  // hhT from static/i18n.js (the page's language); the same fill-in without it
  const hhT = (s, p) => (window.hhT || fill)(s, p);

  const el = window.hhEl; // static/dom.js
  const say = (text) => { status.textContent = text; };

  // CPIC action categories (worst first), written out so the meaning never rests on colour
  const ACTION = {
    avoid: () => hhT("Avoid if another option exists"),
    consider_alternative: () => hhT("Consider an alternative"),
    adjust_dose: () => hhT("Adjust the dose"),
    see_guideline: () => hhT("See the guideline"),
    use_as_directed: () => hhT("Use as directed"),
    no_recommendation: () => hhT("No recommendation"),
    no_data: () => hhT("No genetic result for this medicine"),
  };
  const ACTIONABLE = new Set(["avoid", "consider_alternative", "adjust_dose"]);
  const actionLabel = (a) => (ACTION[a] ? ACTION[a]() : String(a).replace(/_/g, " "));
  const GENE_STATUS = {
    no_call: () => hhT("no call"),
    no_data: () => hhT("no data in the file"),
    ambiguous: () => hhT("ambiguous"),
    no_phenotype: () => hhT("no phenotype assigned"),
  };

  function badge(action) {
    return el("span", { class: "action-badge action-" + action, "data-action": action },
              actionLabel(action));
  }

  function strength(list, level) {
    const parts = (list || []).map((s) => (s.population
      ? hhT("%(strength)s (%(population)s)", { strength: s.strength, population: s.population })
      : s.strength));
    if (level) parts.push(hhT("CPIC level %(level)s", { level: level }));
    return parts.join("; ") || "—";
  }

  function source(d) {
    return [el("cite", {}, d.citation),
            d.guideline_url ? [" ", el("a", { href: d.guideline_url, rel: "noopener" },
                                       hhT("guideline"))] : null];
  }

  function phenotypesText(ph) {
    return Object.entries(ph || {}).map(([g, p]) => g + ": " + p).join("; ");
  }

  // -- the report ---------------------------------------------------------------------------------
  function genesTable(genes) {
    const rows = genes.map((g) => el("tr", { "data-gene": g.gene },
      el("th", { scope: "row" }, g.gene),
      el("td", { class: "diplotype wrap-short" }, g.diplotype),
      el("td", { class: "phenotype wrap-short" }, g.phenotype || (GENE_STATUS[g.status]
        ? GENE_STATUS[g.status]() : "—")),
      el("td", { class: "num" }, g.activity_score ?? "—"),
      el("td", { class: "wrap small" },
         g.source === "outside" ? hhT("Outside call.") + " " : null,
         (g.notes || []).join(" ")) ));
    return el("div", { class: "scroll" }, el("table", { class: "pgx-genes" },
      el("caption", { text: hhT("Diplotype and phenotype of each gene") }),
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: hhT("Gene") }),
        el("th", { scope: "col", text: hhT("Diplotype") }),
        el("th", { scope: "col", text: hhT("Phenotype") }),
        el("th", { scope: "col", class: "num", text: hhT("Activity score") }),
        el("th", { scope: "col", text: hhT("Notes") }))),
      el("tbody", {}, rows)));
  }

  function drugsTable(drugs) {
    if (!drugs.length) {
      return el("p", {}, hhT("No medicine with a CPIC guideline needs a change for these results."));
    }
    const rows = drugs.map((d) => el("tr", { "data-drug": d.drug, "data-action": d.action },
      el("th", { scope: "row" }, d.drug),
      el("td", { class: "wrap" }, badge(d.action), " ", d.summary,
         d.dose_note ? el("span", { class: "dose small" },
                          hhT("Dose in the guideline: %(dose)s", { dose: d.dose_note })) : null),
      el("td", { class: "wrap" }, phenotypesText(d.phenotypes),
         d.missing_genes && d.missing_genes.length
           ? el("span", { class: "missing-genes small" },
                hhT("Not known: %(genes)s", { genes: d.missing_genes.join(", ") })) : null),
      el("td", { class: "wrap small" }, strength(d.strength, d.cpic_level)),
      el("td", { class: "wrap small" }, source(d))));
    return el("div", { class: "scroll" }, el("table", { class: "pgx-drugs" },
      el("caption", { text: hhT("Medicines with actionable CPIC guidance") }),
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: hhT("Medicine") }),
        el("th", { scope: "col", text: hhT("What the guideline advises") }),
        el("th", { scope: "col", text: hhT("Genes used") }),
        el("th", { scope: "col", text: hhT("Strength") }),
        el("th", { scope: "col", text: hhT("Source") }))),
      el("tbody", {}, rows)));
  }

  function otherDrugs(drugs) {
    if (!drugs.length) return null;
    return el("details", { class: "pgx-other" },
      el("summary", {}, hhT("Other medicines with CPIC guidance (%(n)s)", { n: drugs.length })),
      el("ul", {}, drugs.map((d) => el("li", { "data-drug": d.drug, "data-action": d.action },
        el("strong", {}, d.drug), ": ", actionLabel(d.action),
        d.phenotypes && Object.keys(d.phenotypes).length
          ? " (" + phenotypesText(d.phenotypes) + ")" : null))));
  }

  function notCalled(report, genes) {
    const items = [];
    for (const [gene, reasons] of Object.entries(report.not_called || {})) {
      items.push(el("li", { "data-gene": gene }, el("strong", {}, gene), ": ",
                    (reasons || []).join(" ")));
    }
    for (const g of genes) {
      const why = [...(g.notes || []), ...(g.alternatives || []).map(
        (a) => hhT("possible: %(alt)s", { alt: a }))];
      items.push(el("li", { "data-gene": g.gene }, el("strong", {}, g.gene), ": ",
                    GENE_STATUS[g.status] ? GENE_STATUS[g.status]() : g.status,
                    why.length ? " — " + why.join("; ") : null));
    }
    if (!items.length) return [];
    return [el("h3", { id: "pgx-not-called" }, hhT("What could not be called")),
            el("ul", { class: "pgx-not-called", "aria-labelledby": "pgx-not-called" }, items)];
  }

  function render(report) {
    const all = Object.values((report.phenotypes && report.phenotypes.genes) || {});
    all.sort((a, b) => a.gene.localeCompare(b.gene));
    const called = all.filter((g) => g.diplotype && g.status !== "ambiguous");
    const uncalled = all.filter((g) => !(g.diplotype && g.status !== "ambiguous"));
    const drugs = report.drugs || [];
    const actionable = drugs.filter((d) => ACTIONABLE.has(d.action));
    const other = drugs.filter((d) => d.action === "see_guideline" ||
                                      d.action === "use_as_directed");
    body.replaceChildren(
      el("h3", { id: "pgx-genes" }, hhT("Genes")),
      called.length ? genesTable(called) : el("p", {}, hhT("No gene could be called.")),
      el("h3", { id: "pgx-drugs" }, hhT("Medicines")),
      drugsTable(actionable),
      otherDrugs(other),
      ...notCalled(report, uncalled),
      report.disclaimer ? el("p", { class: "disclaimer small" }, report.disclaimer) : null,
      el("p", { class: "muted small" }, hhT("Data as JSON:"), " ",
         el("a", { href: base }, hhT("pharmacogenomics"))));
    const list = document.getElementById("rx-drugs");
    if (list) list.replaceChildren(...drugs.map((d) => el("option", { value: d.drug })));
    say(hhT("%(genes)s genes called; %(drugs)s medicines with actionable guidance.",
          { genes: called.length, drugs: actionable.length }));
  }

  function finish(state, text) {
    card.dataset.state = state;
    card.removeAttribute("aria-busy");
    if (text) say(text);
    const check = document.getElementById("rx-check");
    // the check needs genomics and medications access; without a genotype it still answers
    if (check && canPrescribe) check.hidden = !(state === "ready" || state === "none");
  }

  async function load() {
    card.setAttribute("aria-busy", "true");
    card.dataset.state = "loading";
    let r;
    try {
      r = await fetch(base, { headers: { Accept: "application/json" },
                              credentials: "same-origin" });
    } catch (err) {
      return finish("error", hhT("Could not load the pharmacogenomic results: the server did not answer."));
    }
    if (r.status === 403) {
      return finish("not-shared", hhT("Pharmacogenomic results for this person are not shared with you."));
    }
    if (r.status === 401) {
      return finish("error", hhT("Your session has ended. Sign in again to see the pharmacogenomic results."));
    }
    const data = await r.json().catch(() => ({}));
    if (r.status === 404) {
      body.replaceChildren(el("p", {}, hhT("No genotype on file for this person."),
        data.fix ? el("span", { class: "muted small" }, " ", data.fix) : null));
      return finish("none", hhT("No genotype on file."));
    }
    if (!r.ok) {
      return finish("error", hhT("Could not load the pharmacogenomic results: %(what)s",
                               { what: [data.what || r.statusText, data.fix].filter(Boolean)
                                 .join(" — ") }));
    }
    render(data);
    finish("ready");
  }

  // -- the prescription check (clinicians) --------------------------------------------------------
  function answer(a) {
    if (!a.has_pgx_results) {
      return [el("p", { class: "rx-verdict", "data-action": a.action },
                 el("strong", {}, a.drug), ": ",
                 hhT("no genotype on file, so there is no genetic guidance to check.")),
              el("p", { class: "muted small" }, a.disclaimer)];
    }
    const row = (label, v) => (v ? [el("dt", {}, label), el("dd", {}, v)] : null);
    return [
      el("p", { class: "rx-verdict", "data-action": a.action },
         el("strong", {}, a.drug), ": ", badge(a.action)),
      el("p", { class: "rx-summary" }, a.summary),
      el("dl", { class: "facts rx-facts" },
         row(hhT("Dose note"), a.dose_note),
         row(hhT("Phenotypes used"), phenotypesText(a.phenotypes) || hhT("none")),
         row(hhT("Genes without a result"), (a.missing_genes || []).join(", ")),
         row(hhT("Strength"), strength(a.strength, a.cpic_level)),
         row(hhT("Source"), source(a))),
      el("p", { class: "muted small" }, a.disclaimer)];
  }

  function setupCheck() {
    const form = document.getElementById("rx-form");
    if (!form || !canPrescribe) return;
    const input = document.getElementById("rx-drug");
    const result = document.getElementById("rx-result");
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const text = input.value.trim();
      if (!text) {
        result.replaceChildren(el("p", {}, hhT("Type a medicine name or an RxNorm code first.")));
        input.focus();
        return;
      }
      button.disabled = true;
      result.dataset.state = "checking";
      result.replaceChildren(el("p", {}, hhT("Checking %(drug)s…", { drug: text })));
      let out, state = "error";
      try {
        const r = await fetch(base + "/check-prescription", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify(/^\d+$/.test(text) ? { rxnorm: text } : { drug: text }),
        });
        const data = await r.json().catch(() => ({}));
        if (r.ok) {
          out = answer(data);
          state = "done";
        } else if (r.status === 403) {
          out = [el("p", {}, hhT("This person's pharmacogenomic results or medicines are not shared with you."))];
        } else {
          out = [el("p", {}, hhT("Could not check %(drug)s: %(what)s",
                               { drug: text, what: data.what || r.statusText }),
                    data.fix ? el("span", { class: "muted" }, " ", data.fix) : null)];
        }
      } catch (err) {
        out = [el("p", {}, hhT("Could not check %(drug)s: the server did not answer.",
                             { drug: text }))];
      }
      result.replaceChildren(...out);
      result.dataset.state = state;
      button.disabled = false;
    });
  }

  setupCheck();
  load();
})();
