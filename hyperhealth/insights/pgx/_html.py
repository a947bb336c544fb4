"""The HTML report: readable by the person and by their clinician, self-contained (no scripts).

>>> from hyperhealth.insights.pgx._html import explain
>>> explain("Poor Metabolizer")[:40]
'The body breaks this group of medicines '
"""

from __future__ import annotations

from html import escape

from hyperhealth.insights.pgx._recommend import ACTIONABLE, DrugRecommendation

_PLAIN = {
    "poor metabolizer": "The body breaks this group of medicines down very slowly or not at "
                        "all, or cannot switch them on.",
    "likely poor metabolizer": "Probably a very slow processor of these medicines.",
    "intermediate metabolizer": "The body breaks these medicines down more slowly than usual.",
    "likely intermediate metabolizer": "Probably a somewhat slower processor of these "
                                       "medicines.",
    "normal metabolizer": "The body processes these medicines in the usual way.",
    "rapid metabolizer": "The body processes these medicines faster than usual.",
    "ultrarapid metabolizer": "The body processes these medicines much faster than usual.",
    "possible intermediate metabolizer": "Possibly a somewhat slower processor of these "
                                         "medicines.",
    "normal function": "The transporter works in the usual way.",
    "decreased function": "The transporter works less than usual.",
    "possible decreased function": "The transporter may work less than usual.",
    "poor function": "The transporter works much less than usual.",
    "increased function": "The transporter works more than usual.",
    "indeterminate": "The result cannot be turned into a clear category.",
    "malignant hyperthermia susceptibility": "A higher risk of a dangerous reaction to some "
                                             "anaesthetic gases and succinylcholine.",
    "uncertain susceptibility": "No known risk variant was found; this does not rule out risk.",
}

_ACTION_LABEL = {
    "avoid": "Avoid if possible", "consider_alternative": "Consider another medicine",
    "adjust_dose": "Dose change", "use_as_directed": "No change", "see_guideline":
    "Clinician to review", "no_recommendation": "No genetic advice", "no_data": "No result",
}

_CSS = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b;line-height:1.45}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e3e3;vertical-align:top}
th{background:#f4f4f4}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.6rem 1rem}
.act-avoid{color:#a00000;font-weight:600}.act-consider_alternative{color:#a04000;font-weight:600}
.act-adjust_dose{color:#8a5a00;font-weight:600}.small{font-size:.85rem;color:#555}
code{font-size:.9em}
"""


#: phrases found inside other phenotype names, in order
_CONTAINS = (
    ("-1639 aa", "More sensitive to warfarin: lower doses are usually needed."),
    ("-1639 ag", "Somewhat more sensitive to warfarin than usual."),
    ("-1639 gg", "Usual sensitivity to warfarin."),
    ("increased risk of aminoglycoside", "Some antibiotics (aminoglycosides) carry a higher "
                                         "risk of hearing loss."),
    ("normal risk of aminoglycoside", "No known higher risk of hearing loss from "
                                      "aminoglycoside antibiotics."),
    ("uncertain risk of aminoglycoside", "The effect of this variant on hearing-loss risk "
                                         "is not known."),
    ("unfavorable response", "Less likely to respond to the medicines this gene guides."),
    ("favorable response", "More likely to respond to the medicines this gene guides."),
    ("non-responsive", "The variants found are not ones this medicine is known to help."),
    ("responsive", "Carries a variant this medicine is known to help."),
    ("positive", "Carries an immune-system (HLA) type linked to serious reactions to some "
                 "medicines."),
    ("negative", "Does not carry the HLA types linked to serious reactions to these medicines."),
    ("deficient", "The enzyme that protects red blood cells works less: some medicines can "
                  "damage red blood cells."),
    ("variable", "The enzyme that protects red blood cells may work less than usual."),
)


def explain(phenotype: str | None) -> str:
    """A plain-language sentence for a phenotype (our own words).

    >>> explain("-1639 AG")
    'Somewhat more sensitive to warfarin than usual.'
    """
    if not phenotype:
        return "No phenotype could be assigned."
    low = phenotype.lower()
    if low in _PLAIN:
        return _PLAIN[low]
    if low == "normal":  # G6PD
        return "The enzyme that protects red blood cells works in the usual way."
    for key, text in _CONTAINS:
        if key in low:
            return text
    return "See the explanation from your clinician."


def _drug_row(d: DrugRecommendation) -> str:
    genes = ", ".join(f"{g}: {escape(v)}" for g, v in d.phenotypes.items()) or "-"
    strength = "; ".join(f"{s.get('strength', '')} ({s.get('population', '')})"
                         for s in d.strength if s.get("strength")) or "not recorded"
    cite = ", ".join(f'<a href="https://pubmed.ncbi.nlm.nih.gov/{p}/">PMID {p}</a>'
                     for p in d.pmids)
    missing = (f"<br><span class=small>without a result for {', '.join(d.missing_genes)}"
               "</span>") if d.missing_genes else ""
    return (f"<tr><td>{escape(d.drug)}</td>"
            f"<td class='act-{d.action}'>{_ACTION_LABEL.get(d.action, d.action)}</td>"
            f"<td>{escape(d.summary)}{missing}</td><td>{genes}</td>"
            f"<td class=small>CPIC level {escape(d.cpic_level or '-')}; strength: "
            f"{escape(strength)}<br>{cite}</td></tr>")


def report_html(report: object) -> str:
    """The report page (takes a :class:`~hyperhealth.insights.pgx.PgxReport`)."""
    from hyperhealth.insights.pgx._pipeline import PgxReport

    assert isinstance(report, PgxReport)
    r = report
    rows = []
    for g in sorted(r.genes):
        p = r.genes[g]
        m = r.match.genes.get(g)
        src = "outside call" if p.source == "outside" else "VCF"
        dip = p.diplotype or (", ".join(d.name for d in m.diplotypes) if m else "") or "-"
        score = f" (activity score {escape(p.activity_score)})" if p.activity_score else ""
        alts = ("<br><span class=small>also fits: " + escape("; ".join(p.alternatives)) +
                "</span>") if p.alternatives else ""
        rows.append(f"<tr><td>{escape(g)}</td><td>{escape(dip)}{alts}</td>"
                    f"<td>{escape(p.phenotype or 'not assigned')}{score}</td>"
                    f"<td>{escape(explain(p.phenotype))}</td><td class=small>{src}</td></tr>")
    act = [d for d in r.drugs if d.action in ACTIONABLE]
    rest = [d for d in r.drugs if d.action not in ACTIONABLE and d.action != "no_data"]
    nodata = [d for d in r.drugs if d.action == "no_data"]
    miss = []
    for g, why in sorted(r.not_called.items()):
        m = r.match.genes.get(g)
        pos = ""
        if m is not None and m.missing_positions and m.status != "no_data":
            shown = ", ".join(m.missing_positions[:8])
            more = f" and {len(m.missing_positions) - 8} more" if len(m.missing_positions) > 8 \
                else ""
            pos = f"<br><span class=small>missing: {escape(shown)}{more}</span>"
        miss.append(f"<tr><td>{escape(g)}</td><td>{escape('; '.join(why))}{pos}</td></tr>")
    partly = []
    for g, m in sorted(r.match.genes.items()):
        if m.missing_positions and g not in r.not_called and m.status != "no_data":
            partly.append(f"<tr><td>{escape(g)}</td><td>{len(m.missing_positions)} position(s) "
                          f"missing; alleles that could not be tested: "
                          f"{escape(', '.join(m.untestable_alleles) or 'none')}</td></tr>")
    prov = r.match.provenance
    head = (f"<p>Sample <b>{escape(r.sample)}</b> · file <code>{escape(r.match.vcf)}</code> · "
            f"genome build {escape(r.match.build)} · allele definitions "
            f"{escape(str(prov.get('definitions_version', '')))}</p>")
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>Medicines and genes: {escape(r.sample)}</title><style>{_CSS}</style></head><body>",
        "<h1>How your genes may affect some medicines</h1>", head,
        f"<p class=note>{escape(r.disclaimer)}</p>",
        "<h2>Medicines where the guideline suggests a change</h2>",
        ("<p>None of the medicines covered needs a change for these results.</p>" if not act else
         "<table><tr><th>Medicine</th><th>What to do</th><th>In plain words</th>"
         "<th>Gene results used</th><th>Evidence</th></tr>" +
         "".join(_drug_row(d) for d in act) + "</table>"),
        "<h2>Gene results</h2><table><tr><th>Gene</th><th>Result (diplotype)</th>"
        "<th>Category</th><th>What it means</th><th>Source</th></tr>" + "".join(rows) +
        "</table>",
        "<h2>Other medicines covered</h2><table><tr><th>Medicine</th><th>What to do</th>"
        "<th>In plain words</th><th>Gene results used</th><th>Evidence</th></tr>" +
        "".join(_drug_row(d) for d in rest) + "</table>",
        "<h2>What could not be called, and why</h2>",
        ("<p>Every gene was called.</p>" if not miss else
         "<table><tr><th>Gene</th><th>Why</th></tr>" + "".join(miss) + "</table>"),
        ("" if not nodata else "<h3>Medicines with a guideline but no gene result here</h3>"
         "<p>" + escape(", ".join(f"{d.drug} ({', '.join(d.missing_genes) or '-'})"
                                  for d in nodata)) + "</p>"),
        ("" if not partly else "<h3>Called with some positions missing</h3><table>"
         "<tr><th>Gene</th><th>Effect</th></tr>" + "".join(partly) + "</table>"),
        "<h2>For clinicians: how this was made</h2><ul class=small>",
        f"<li>Matcher: {escape(str(prov.get('method', '')))} "
        f"{escape(str(prov.get('method_version', '')))}; "
        f"{escape(str(prov.get('citation', '')))}</li>",
        "<li>Phenotypes from the CPIC gene tables; recommendations from CPIC guidelines "
        "(summaries above are ours; read the cited guideline before acting).</li>",
        "<li>A position absent from the file is treated as not tested, never as reference; "
        "gVCF reference blocks count as tested.</li>",
        f"<li>Warnings from reading the file: {len(r.match.warnings)}</li></ul>",
        "</body></html>",
    ]
    return "\n".join(parts)
